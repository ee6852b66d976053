"""Fit a run's confidence calibration again, or for a run trained before calibration existed.

    python scripts/calibrate.py --model saved_models/my_synthetic_run          # its synthetic validation stream
    python scripts/calibrate.py --model saved_models/mine --data data/mine --only saved_models/mine/heldout.txt

Training fits it at the end of every run (on the run's validation images);
this does the same for a run already trained: it reads labelled images the
run did not train on (a folder, or fresh captchas of the validation stream
it was trained beside), fits the temperature (`inference.calibration`),
writes it into the run's config.json and exports the SavedModel anew, whose
reading signature computes the calibrated confidence in the graph. The ONNX
and LiteRT exports output the model's own probabilities and need no new
export: `Reader` applies the temperature from config.json to every format.
"""

import argparse
import json
import os

from captcha_keras.cli.flags import HelpFormatter


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--model", required=True, help="a run folder (with config.json, best.keras and savedmodel/)")
    p.add_argument("--data", help="a labelled folder the run did not train on (default: synthetic captchas)")
    p.add_argument("--only", help="with --data: the files to use (e.g. the run's heldout.txt)")
    p.add_argument("--samples", type=int, default=2000, help="synthetic captchas of the validation stream")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation stream (the run's own: 0)")
    p.add_argument("--workers", type=int, default=2, help="processes drawing or decoding images")
    p.add_argument("--dry-run", action="store_true", help="print the fit, change nothing")
    return p.parse_args(argv)


def main(argv=None):
    import dataclasses

    from captcha_keras.cli.flags import fail
    from captcha_keras.evaluation import reliability
    from captcha_keras.inference.calibration import MIN_IMAGES
    from captcha_keras.inference.calibration import fit_temperature
    from captcha_keras.inference.calibration import reading_confidences
    from captcha_keras.inference.decoding import decode_outputs
    from captcha_keras.inference.reader import Reader
    from captcha_keras.runs import BEST_MODEL_FILE
    from captcha_keras.runs import HELDOUT_FILE

    args = parse_args(argv)
    try:
        reader = Reader(args.model, format="savedmodel")
        if not os.path.isfile(os.path.join(reader.path, BEST_MODEL_FILE)) and not args.dry_run:
            raise FileNotFoundError(
                f"{args.model} has no {BEST_MODEL_FILE}: its SavedModel cannot be exported anew with the temperature."
            )
        if not args.data and os.path.isfile(os.path.join(reader.path, HELDOUT_FILE)):
            raise ValueError(
                f"{args.model} was trained on a folder: fit it on that folder's validation images, "
                f"--data DIR --only {os.path.join(reader.path, HELDOUT_FILE)}, not on synthetic captchas."
            )
        images, texts, source = calibration_data(reader, args)
    except (FileNotFoundError, ValueError, OSError) as error:
        fail(error)
    if len(texts) < MIN_IMAGES:
        fail(f"{len(texts)} images: a temperature is fitted on at least {MIN_IMAGES}.")
    c = reader.config
    lengths = (c.min_length, c.max_length)
    outputs = [reader.forward(images[i : i + 256]) for i in range(0, len(images), 256)]
    outputs = _concatenate(outputs)
    fit = fit_temperature(outputs, c.family, reader.charset, texts, lengths)
    predicted = [t for t, _ in decode_outputs(outputs, c.family, reader.charset, lengths=lengths)]
    correct = [t == p for t, p in zip(texts, predicted)]
    before = reliability(reading_confidences(outputs, c.family, reader.charset, predicted, 1.0), correct)[0]
    after = reliability(reading_confidences(outputs, c.family, reader.charset, predicted, fit["temperature"]), correct)[
        0
    ]
    print(
        f"{args.model}: temperature {fit['temperature']:g} (was {c.temperature:g}), fitted on {len(texts)} {source} "
        f"({fit['errors']} read wrong); on those same images ECE {before:.2%} at temperature 1, {after:.2%} now "
        "(score it on other images with evaluate.py)."
    )
    if args.dry_run:
        return 0
    import keras

    from captcha_keras.export.savedmodel import export_savedmodel
    from captcha_keras.runs import METRICS_FILE
    from captcha_keras.runs import SAVEDMODEL_DIR

    config = dataclasses.replace(c, temperature=fit["temperature"])
    # The SavedModel first: a failed export leaves config.json and the graph agreeing on the old temperature.
    model = keras.models.load_model(os.path.join(reader.path, BEST_MODEL_FILE), compile=False)
    export_savedmodel(model, os.path.join(reader.path, SAVEDMODEL_DIR), config)
    config.save(reader.path)
    metrics_path = os.path.join(reader.path, METRICS_FILE)
    if os.path.isfile(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
        # Confidence figures measured under the old temperature no longer hold.
        stale = (
            "ece",
            "precision_at_coverage",
            "threshold_at_coverage",
            "coverage_at_precision",
            "threshold_at_precision",
        )
        metrics = {k: v for k, v in metrics.items() if k not in stale}
        metrics["calibration"] = dict(fit, data=source)
        with open(metrics_path, "w") as f:
            json.dump(metrics, f, indent=2)
    print(f"written: {os.path.join(reader.path, 'config.json')}, savedmodel/ exported anew")
    return 0


def calibration_data(reader, args):
    """`(images, texts, what)`: the labelled images the temperature is fitted on."""
    c = reader.config
    if args.data:
        from captcha_keras.data.folder import read_folder

        wanted = None
        if args.only:
            with open(args.only) as f:
                wanted = {line.strip() for line in f if line.strip()}
        data = read_folder(
            args.data, c.width, c.height, c.channels, c.keep_aspect, workers=args.workers, only=wanted, fusion=c.fusion
        )
        return data.images, data.texts, f"images of {args.data}"
    from captcha_keras.data.synthetic import draw_test_set

    images, texts = draw_test_set(c, args.samples, args.seed, args.workers, stream="validation")
    return images, texts, f"validation-stream captchas (seed {args.seed})"


def _concatenate(parts):
    import numpy as np

    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)
