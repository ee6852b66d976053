"""Read captcha images with a trained run, in any of its formats.

    python scripts/predict.py --model saved_models/ctc_default captcha.png more/
    python scripts/predict.py --model saved_models/ctc_default/model_int8.tflite captcha.png

Prints `path<TAB>text<TAB>confidence` per image, the confidence being the
`Reader`'s: the probability of the whole text (for CTC, summed over every
alignment that spells it), calibrated on the run's validation images; below
--min-confidence the text is withheld. A run of arithmetic questions
(`RunConfig.task`) adds a fourth column: `answer=11`, or `no answer: <why>`
where the text read is not a question. An unreadable file gets an
`ERROR` line on stderr, the others are still read, and the exit code is 1.
"""

import argparse
import sys

from captcha_keras.cli.flags import HelpFormatter
from captcha_keras.cli.flags import add_serving_precision_flag
from captcha_keras.images import DEFAULT_MAX_PIXELS
from captcha_keras.runs import FORMATS


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument(
        "--model",
        required=True,
        help="a run folder (with config.json and savedmodel/), or an export file of one (model.onnx, ...)",
    )
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="the run's format to read with (default: savedmodel, or the --model file's); "
        "onnx and litert* need no TensorFlow",
    )
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--decoder", default="greedy", choices=("greedy", "beam_search"), help="CTC decoding")
    p.add_argument("--beam-width", type=int, default=10, help="beams of --decoder beam_search")
    p.add_argument("--batch-size", type=int, default=64, help="images read at once")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images of more pixels than this before decoding them",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        help="abstain (no text, and a fourth column saying why) where the calibrated confidence is below this, 0-1",
    )
    add_serving_precision_flag(p)
    return p.parse_args(argv)


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.images import ImageError
    from captcha_keras.inference.reader import Reader
    from captcha_keras.precision import set_serving_precision

    args = parse_args(argv)
    try:
        # Any format Pillow reads, as before; the pixel limit still applies.
        reader = Reader(
            args.model,
            decoder=args.decoder,
            beam_width=args.beam_width,
            format=args.format,
            max_pixels=args.max_pixels,
            formats=None,
        )
        if reader.format == "savedmodel":  # the precision is TensorFlow's; the other runtimes have their own
            set_serving_precision(args.precision)
        readings = reader.read_files(args.paths, batch_size=args.batch_size, min_confidence=args.min_confidence)
    except (FileNotFoundError, ValueError, OSError, ImportError) as error:
        fail(error)
    failures = 0
    arithmetic = reader.config.task == "arithmetic"
    for path, result in readings:
        if isinstance(result, ImageError):
            failures += 1
            print(f"ERROR\t{result}", file=sys.stderr)
        elif result.abstained:
            print(f"{path}\t\t{result.confidence:.4f}\tabstained: {result.reason}", flush=True)
        elif arithmetic:
            said = f"answer={result.answer}" if result.answer is not None else f"no answer: {result.answer_reason}"
            print(f"{path}\t{result.text}\t{result.confidence:.4f}\t{said}", flush=True)
        else:
            print(f"{path}\t{result.text}\t{result.confidence:.4f}", flush=True)
    return 1 if failures else 0
