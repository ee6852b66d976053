"""What a finished run leaves behind: SavedModel, metrics and pictures."""

import json
import os
import shutil


from captcha_keras import evaluation
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.export import export_savedmodel
from captcha_keras.plots import plot_architecture
from captcha_keras.plots import plot_history
from captcha_keras.plots import plot_predictions
from captcha_keras.inference.predictor import SAVEDMODEL_DIR
from captcha_keras.inference.predictor import Predictor

METRICS_FILE = "metrics.json"


def draw_test_set(run_config, samples, seed, workers=2, batch_size=250, style=None):
    """Fresh captchas from the test stream of `seed`, drawn as the run was trained
    (in its style, or `style`)."""
    batch_size = min(batch_size, samples)
    data = SyntheticCaptchas(
        charset=run_config.charset,
        width=run_config.width,
        height=run_config.height,
        length=(run_config.min_length, run_config.max_length),
        grayscale=run_config.grayscale,
        seed=seed,
        stream="test",
        batch_size=batch_size,
        steps=-(-samples // batch_size),
        family=None,
        style=style or run_config.style,
    )
    images, texts = draw_batches(data, workers=workers, progress="test captchas")
    return images[:samples], texts[:samples]


def evaluate_synthetic(predictor, samples, seed, workers=2, batch_size=256, style=None):
    """Scores a predictor on `samples` fresh test captchas.

    Returns:
        `(scores, images, texts, predictions)`; scores as `evaluation.score`.
    """
    images, texts = draw_test_set(predictor.config, samples, seed, workers, style=style)
    return evaluate_arrays(predictor, images, texts, batch_size)


def evaluate_arrays(predictor, images, texts, batch_size=256):
    """Scores a predictor on model-input images with known labels.

    Returns:
        `(scores, images, texts, predictions)`; scores as `evaluation.score`.
    """
    predictions = []
    for start in range(0, len(images), batch_size):
        predictions.extend(predictor.predict_arrays(images[start : start + batch_size]))
    scores = evaluation.score(texts, [p.text for p in predictions])
    return scores, images, texts, predictions


def write_prediction_grid(path, images, texts, predictions, count=24, title=None):
    """A grid of the first `count` predictions, with the wrong ones first."""
    order = sorted(range(len(texts)), key=lambda i: texts[i] == predictions[i].text)[:count]
    plot_predictions(
        images[order],
        [texts[i] for i in order],
        [predictions[i].text for i in order],
        out_path=path,
        confidences=[predictions[i].confidence for i in order],
        title=title,
    )


def finish_run(model, run_config, run_dir, log_dir, seed, eval_samples, heldout=None):
    """Exports the best model and writes config, metrics, CSV and PNGs into `run_dir`.

    Scores `heldout` (a `FolderData`) when given, else `eval_samples` fresh
    synthetic captchas of the test stream.
    """
    run_config.save(run_dir)
    export_savedmodel(model, os.path.join(run_dir, SAVEDMODEL_DIR), run_config)
    plot_architecture(model, os.path.join(run_dir, "model.png"))
    csv_path = os.path.join(log_dir, "training.csv")
    if os.path.isfile(csv_path):
        shutil.copyfile(csv_path, os.path.join(run_dir, "training.csv"))
        plot_history(csv_path, os.path.join(run_dir, "history.png"))
    predictor = Predictor.load(run_dir)
    if heldout is not None:
        scores, images, texts, predictions = evaluate_arrays(predictor, heldout.images, heldout.texts)
        scores.update(data=heldout.root, parameters=int(model.count_params()))
        what = f"held-out images of {heldout.root}"
    else:
        scores, images, texts, predictions = evaluate_synthetic(predictor, eval_samples, seed)
        scores.update(seed=seed, stream="test", parameters=int(model.count_params()))
        what = "fresh captchas"
    with open(os.path.join(run_dir, METRICS_FILE), "w") as f:
        json.dump(scores, f, indent=2)
    write_prediction_grid(
        os.path.join(run_dir, "predictions.png"),
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



