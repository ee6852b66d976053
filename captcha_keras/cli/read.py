"""Read captcha images: the one command a person uses (a shipped model by default, no TensorFlow needed).

    captcha-keras read captcha.png more/
    captcha-keras read captcha.png --model really_simple_captcha --allowed 0123456789 --min-confidence 0.9 --json

Prints `path<TAB>text<TAB>confidence` per image, as predict.py does; the
confidence is calibrated (the chance the text is right, as the run's
validation images measured it). Below --min-confidence the reading abstains: the text is left empty and a fourth
column says why (in --json: `"text": null, "abstained": true, "reason"`). An
unreadable file gets an `ERROR` line on stderr, the others are still read,
and the exit code is 1.
"""

import argparse
import json
import sys

from captcha_keras.cli.flags import HelpFormatter


def parse_args(argv=None):
    from captcha_keras.runs import DEFAULT_MODEL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("paths", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="a shipped model's name, a run folder, or an export file of one (model.onnx, ...)",
    )
    p.add_argument("--allowed", help="the characters a reading may use (a subset of the model's)")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="abstain (no text) where the reading's confidence is below this, 0-1",
    )
    p.add_argument("--json", action="store_true", help="print one JSON list of readings instead of lines")
    p.add_argument("--batch-size", type=int, default=64, help="images read at once")
    return p.parse_args(argv)


def quick_format(path):
    """`"onnx"` where the run at `path` (`find_run`'s) has that export and onnxruntime is here, else None
    (the Reader's choice).

    A person's command should start at once: onnxruntime loads in a fraction
    of TensorFlow's time, and an ONNX export reads the SavedModel's texts
    (each export is checked against it before it is written).
    """
    import importlib.util

    from captcha_keras.runs import available_formats
    from captcha_keras.runs import split_model_path

    if split_model_path(path) or importlib.util.find_spec("onnxruntime") is None:
        return None
    return "onnx" if "onnx" in available_formats(path) else None


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.images import ImageError
    from captcha_keras.inference.reader import Reader
    from captcha_keras.runs import find_run

    args = parse_args(argv)
    if not 0.0 <= args.min_confidence <= 1.0:
        fail(f"--min-confidence must be within 0-1. Received: {args.min_confidence}")
    if args.batch_size < 1:
        fail(f"--batch-size must be at least 1. Received: {args.batch_size}")
    try:
        # Any format Pillow reads, as predict.py; the pixel limit still applies.
        path = find_run(args.model)  # once: a packaged model's files are hashed when it is found
        reader = Reader(path, formats=None, format=quick_format(path))
        reader.check_allowed(args.allowed)
    except (FileNotFoundError, ValueError, OSError, ImportError) as error:
        fail(error)
    failures, results = 0, []
    try:
        readings = reader.read_files(
            args.paths,
            batch_size=args.batch_size,
            allowed=args.allowed,
            min_confidence=args.min_confidence or None,
        )
    except (OSError, ValueError) as error:
        fail(error)
    for path, result in readings:
        if isinstance(result, ImageError):
            failures += 1
            print(f"ERROR\t{result}", file=sys.stderr)
            if args.json:
                results.append({"file": path, "error": str(result)})
            continue
        if args.json:
            results.append({"file": path, "abstained": False, "reason": None, **result.to_dict()})
        elif result.abstained:
            print(f"{path}\t\t{result.confidence:.4f}\tabstained: {result.reason}", flush=True)
        else:
            print(f"{path}\t{result.text}\t{result.confidence:.4f}", flush=True)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 1 if failures else 0
