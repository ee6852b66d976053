"""What a finished run leaves behind: calibration, SavedModel, metrics and pictures."""

import dataclasses
import json
import os
import shutil

from captcha_keras.evaluation import confidence_outcomes
from captcha_keras.evaluation import evaluate_arrays
from captcha_keras.evaluation import evaluate_synthetic
from captcha_keras.evaluation import plot_confidences
from captcha_keras.evaluation import selective_scores
from captcha_keras.export import export_savedmodel
from captcha_keras.inference.calibration import MIN_IMAGES
from captcha_keras.inference.calibration import fit_temperature
from captcha_keras.inference.reader import Reader
from captcha_keras.plots import plot_architecture
from captcha_keras.plots import plot_history
from captcha_keras.plots import write_prediction_grid
from captcha_keras.runs import ARCHITECTURE_PNG
from captcha_keras.runs import CALIBRATION_PNG
from captcha_keras.runs import HISTORY_CSV
from captcha_keras.runs import HISTORY_PNG
from captcha_keras.runs import METRICS_FILE
from captcha_keras.runs import PREDICTIONS_PNG
from captcha_keras.runs import SAVEDMODEL_DIR


def finish_run(
    model, run_config, *, run_dir, log_dir, seed, eval_samples, heldout=None, validation=None, scored_on="test"
):
    """Calibrates and exports the best model and writes config, metrics, CSV and PNGs into `run_dir`.

    Fits the confidence temperature on `validation` (`(images, texts)`)
    when given, then scores `heldout` (a `FolderData`) when given, else
    `eval_samples` fresh synthetic captchas of the test stream. `scored_on`
    says what `heldout` is: `"test"`, or `"validation"` for a folder run
    without `--test-data`, whose confidence figures are then measured on the
    very images the temperature was fitted on (and say so).
    """
    calibration = None
    if validation is not None and len(validation[1]) >= MIN_IMAGES:
        calibration = calibrate(model, run_config, *validation)
        run_config = dataclasses.replace(run_config, temperature=calibration["temperature"])
    elif validation is not None:
        calibration = {"temperature": 1.0, "samples": len(validation[1]), "fitted": False}
        print(
            f"Not calibrated: {len(validation[1])} validation images, fewer than the {MIN_IMAGES} a temperature is "
            "fitted on; confidences are the model's own (temperature 1)."
        )
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
        scores.update(data=heldout.root, parameters=int(model.count_params()), scored_on=scored_on)
        what = f"held-out images of {heldout.root}"
        if scored_on == "validation":
            what = f"validation images of {heldout.root} (no --test-data; the calibration was fitted on them)"
    else:
        scores, images, texts, predictions = evaluate_synthetic(reader, eval_samples, seed)
        scores.update(seed=seed, stream="test", parameters=int(model.count_params()), scored_on="test")
        what = "fresh captchas"
    scores.update(selective_scores(*confidence_outcomes(predictions, texts)))
    if calibration is not None:
        scores["calibration"] = calibration
    with open(os.path.join(run_dir, METRICS_FILE), "w") as f:
        json.dump(scores, f, indent=2)
    write_prediction_grid(
        os.path.join(run_dir, PREDICTIONS_PNG),
        images,
        texts,
        predictions,
        title=f"sequence accuracy {scores['sequence_accuracy']:.2%} on {scores['samples']} {what}",
    )
    plot_confidences(
        os.path.join(run_dir, CALIBRATION_PNG),
        predictions,
        texts,
        title=f"ECE {scores['ece']:.2%} on {scores['samples']} {what}",
    )
    print(
        f"Run saved to {run_dir}: sequence accuracy {scores['sequence_accuracy']:.2%}, "
        f"CER {scores['cer']:.4f} on {scores['samples']} {what}"
        + (f"; answers right {scores['answer_accuracy']:.2%}." if "answer_accuracy" in scores else ".")
    )
    print(
        f"Confidence: ECE {scores['ece']:.2%}; the {scores['coverage']:.0%} most confident readings are "
        f"{scores['precision_at_coverage']:.2%} right (confidence >= {scores['threshold_at_coverage']:.4f})."
    )
    return scores


def calibrate(model, run_config, images, texts, batch_size=256):
    """Fits the confidence temperature on validation images (`calibration.fit_temperature`) and says so."""
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    result = fit_temperature(
        outputs,
        run_config.family,
        run_config.make_charset(),
        texts,
        lengths=(run_config.min_length, run_config.max_length),
    )
    print(
        f"Calibrated on {result['samples']} validation images ({result['errors']} read wrong): "
        f"temperature {result['temperature']:g}."
    )
    return result
