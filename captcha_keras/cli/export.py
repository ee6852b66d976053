"""Export a trained run: a SavedModel that reads image bytes itself, ONNX, or LiteRT.

    python scripts/export.py --model saved_models/ctc_default --format savedmodel
    python scripts/export.py --model saved_models/ctc_default --format onnx
    python scripts/export.py --model saved_models/ctc_default --format litert --quantize int8

Each export is written beside the run's other files (savedmodel/, model.onnx,
model.tflite, model_dynamic.tflite, model_int8.tflite), read on fresh
captchas first and compared with the run's SavedModel: the texts must be
equal, or the command fails, says by how much, and leaves the earlier
export in place. A quantized model is compared on the same captchas, paired:
it fails only when the captchas it loses outnumber those it gains by more
than a model 0.3 points worse would explain (p below 0.1%). Few captchas can
only detect a large drop (500: 2.6 points, 4,167: 0.6); the output says
what the check could detect.
"""

import argparse
import json

from captcha_keras.cli.flags import HelpFormatter


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument(
        "--model",
        dest="models",
        nargs="+",
        required=True,
        metavar="RUN",
        help="run folders (with best.keras and config.json)",
    )
    p.add_argument("--format", default="savedmodel", choices=("savedmodel", "onnx", "litert"), help="what to write")
    p.add_argument(
        "--quantize",
        choices=("dynamic", "int8"),
        help="LiteRT only: int8 weights (dynamic), or weights and activations (int8, calibrated "
        "on the run's kind of data)",
    )
    p.add_argument(
        "--check-samples",
        type=int,
        default=500,
        help="fresh captchas each export is checked on; a quantized export is refused only for an "
        "accuracy drop these can detect: 500 detect 2.6 points or more, 4,167 detect 0.6 (twice "
        "the 0.3 allowed)",
    )
    p.add_argument(
        "--check-data",
        help="a labelled folder to check on (default: the folder the run was scored "
        "on when it is here, else synthetic captchas drawn as the run was trained)",
    )
    p.add_argument(
        "--calibration-data",
        help="int8: a folder of the run's training images (default: its synthetic training stream)",
    )
    p.add_argument("--calibration-samples", type=int, default=1000, help="int8: images to calibrate on")
    p.add_argument("--json", help="also write what was exported and its check's figures here")
    return p.parse_args(argv)


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.export.checks import ExportCheckError
    from captcha_keras.export.run import export_run
    from captcha_keras.export.run import format_name

    args = parse_args(argv)
    try:
        format_name(args.format, args.quantize)
    except ValueError as error:
        fail(error)
    for flag in ("check_samples", "calibration_samples"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1. Received: {getattr(args, flag)}")
    results, failures = [], []
    for run_dir in args.models:
        try:
            results.append(
                export_run(
                    run_dir,
                    args.format,
                    quantize=args.quantize,
                    samples=args.check_samples,
                    check_data=args.check_data,
                    calibration_data=args.calibration_data,
                    calibration_samples=args.calibration_samples,
                )
            )
        except ImportError as error:
            failures.append(f"{error} (or: pip install -e .[export])")
        except (ExportCheckError, FileNotFoundError, ValueError, OSError) as error:
            failures.append(f"{run_dir}: {error}")
    if args.json:  # what did get exported, even when another run failed
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if failures:
        fail("\n".join(failures))
    return 0
