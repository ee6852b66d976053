"""What a finished run leaves behind: SavedModel, metrics and pictures."""

import json
import os
import shutil

from captcha_keras.evaluation import evaluate_arrays
from captcha_keras.evaluation import evaluate_synthetic
from captcha_keras.export import export_savedmodel
from captcha_keras.inference.reader import Reader
from captcha_keras.plots import plot_architecture
from captcha_keras.plots import plot_history
from captcha_keras.plots import write_prediction_grid
from captcha_keras.runs import ARCHITECTURE_PNG
from captcha_keras.runs import HISTORY_CSV
from captcha_keras.runs import HISTORY_PNG
from captcha_keras.runs import METRICS_FILE
from captcha_keras.runs import PREDICTIONS_PNG
from captcha_keras.runs import SAVEDMODEL_DIR


def finish_run(model, run_config, *, run_dir, log_dir, seed, eval_samples, heldout=None):
    """Exports the best model and writes config, metrics, CSV and PNGs into `run_dir`.

    Scores `heldout` (a `FolderData`) when given, else `eval_samples` fresh
    synthetic captchas of the test stream.
    """
    run_config.save(run_dir)
    export_savedmodel(model, os.path.join(run_dir, SAVEDMODEL_DIR), run_config)
    plot_architecture(model, os.path.join(run_dir, ARCHITECTURE_PNG))
    csv_path = os.path.join(log_dir, HISTORY_CSV)
    if os.path.isfile(csv_path):
        shutil.copyfile(csv_path, os.path.join(run_dir, HISTORY_CSV))
        plot_history(csv_path, os.path.join(run_dir, HISTORY_PNG))
    reader = Reader(run_dir)
    if heldout is not None:
        scores, images, texts, predictions = evaluate_arrays(reader, heldout.images, heldout.texts)
        scores.update(data=heldout.root, parameters=int(model.count_params()))
        what = f"held-out images of {heldout.root}"
    else:
        scores, images, texts, predictions = evaluate_synthetic(reader, eval_samples, seed)
        scores.update(seed=seed, stream="test", parameters=int(model.count_params()))
        what = "fresh captchas"
    with open(os.path.join(run_dir, METRICS_FILE), "w") as f:
        json.dump(scores, f, indent=2)
    write_prediction_grid(
        os.path.join(run_dir, PREDICTIONS_PNG),
        images,
        texts,
        predictions,
        title=f"sequence accuracy {scores['sequence_accuracy']:.2%} on {scores['samples']} {what}",
    )
    print(
        f"Run saved to {run_dir}: sequence accuracy {scores['sequence_accuracy']:.2%}, "
        f"CER {scores['cer']:.4f} on {scores['samples']} {what}."
    )
    return scores
