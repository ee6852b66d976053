"""Read captcha images with a trained run's SavedModel.

    python scripts/predict.py --model saved_models/ctc_default captcha.png more/

Prints `path<TAB>text<TAB>confidence` per image. An unreadable file gets an
`ERROR` line on stderr, the others are still read, and the exit code is 1.
"""

import argparse
import sys

from captcha_keras.cli.flags import HelpFormatter
from captcha_keras.cli.flags import add_serving_precision_flag
from captcha_keras.images import DEFAULT_MAX_PIXELS


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--model", required=True, help="a run folder (with config.json and savedmodel/)")
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--decoder", default="greedy", choices=("greedy", "beam_search"), help="CTC decoding")
    p.add_argument("--beam-width", type=int, default=10, help="beams of --decoder beam_search")
    p.add_argument("--batch-size", type=int, default=64, help="images read at once")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images of more pixels than this before decoding them")
    add_serving_precision_flag(p)
    return p.parse_args(argv)


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.images import ImageError
    from captcha_keras.precision import set_serving_precision
    from captcha_keras.prediction import Predictor

    args = parse_args(argv)
    set_serving_precision(args.precision)
    try:
        predictor = Predictor.load(args.model, strategy=args.decoder, beam_width=args.beam_width)
    except (FileNotFoundError, ValueError, OSError) as error:
        fail(error)
    failures = 0
    for path, result in predictor.predict_files(args.paths, batch_size=args.batch_size, max_pixels=args.max_pixels):
        if isinstance(result, ImageError):
            failures += 1
            print(f"ERROR\t{result}", file=sys.stderr)
        else:
            print(f"{path}\t{result.text}\t{result.confidence:.4f}", flush=True)
    return 1 if failures else 0
