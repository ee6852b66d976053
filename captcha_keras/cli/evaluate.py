"""Score a trained run on fresh, seeded captchas drawn with its own settings, or on a labelled folder.

    python scripts/evaluate.py --model saved_models/ctc_default --samples 10000 --seed 123 --json out.json
    python scripts/evaluate.py --model saved_models/really_simple_captcha --data DIR --errors-png errors.png

Prints the scores; --json and --errors-png keep them.
"""

import argparse
import json

from captcha_keras.cli.flags import HelpFormatter
from captcha_keras.cli.flags import add_serving_precision_flag
from captcha_keras.data.styles import STYLE_CHOICES


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--model", required=True, help="a run folder (with config.json and savedmodel/)")
    p.add_argument("--data", help="score this labelled folder instead of synthetic captchas")
    p.add_argument("--only", help="with --data: score only the files listed here (e.g. a run's heldout.txt)")
    p.add_argument("--strict", action="store_true", help="with --data: stop on bad files instead of skipping them")
    p.add_argument("--samples", type=int, default=2000, help="fresh captchas to score")
    p.add_argument("--seed", type=int, default=12345, help="seed of the test stream")
    p.add_argument("--style", choices=STYLE_CHOICES, help="draw this synthetic style instead of the run's")
    p.add_argument("--workers", type=int, default=2, help="processes drawing captchas")
    p.add_argument("--decoder", default="greedy", choices=("greedy", "beam_search"), help="CTC decoding")
    add_serving_precision_flag(p)
    p.add_argument(
        "--restrict-charset",
        help="read only these characters (a subset of the model's): a base model on a set with fewer",
    )
    p.add_argument("--restrict-length", help="read only texts of this length, e.g. 6 or 4-6 (CTC models)")
    p.add_argument("--json", help="also write the scores to this file")
    p.add_argument("--errors-png", help="also draw a grid of the wrong predictions here")
    return p.parse_args(argv)


def main(argv=None):
    from captcha_keras.charset import parse_length
    from captcha_keras.cli.flags import fail
    from captcha_keras.evaluation import confusions
    from captcha_keras.evaluation import evaluate_synthetic
    from captcha_keras.inference.reader import Reader
    from captcha_keras.plots import write_prediction_grid
    from captcha_keras.precision import set_serving_precision

    args = parse_args(argv)
    if args.only and not args.data:
        fail("--only lists files of a --data folder; give --data DIR too.")
    if args.samples < 1:
        fail(f"--samples must be at least 1. Received: {args.samples}")
    precision = set_serving_precision(args.precision)
    try:
        reader = Reader(args.model, decoder=args.decoder)
        lengths = reader.check_lengths(parse_length(args.restrict_length) if args.restrict_length else None)
        reader.check_allowed(args.restrict_charset)
    except (FileNotFoundError, ValueError, OSError) as error:
        fail(error)
    if args.data:
        try:
            scores, images, texts, predictions = evaluate_folder(reader, args, lengths)
        except (FileNotFoundError, ValueError) as error:
            fail(error)
        scores.update(model=args.model, data=args.data, decoder=args.decoder, precision=precision)
        source = args.data
    else:
        scores, images, texts, predictions = evaluate_synthetic(
            reader,
            args.samples,
            args.seed,
            args.workers,
            style=args.style,
            allowed=args.restrict_charset,
            lengths=lengths,
        )
        scores.update(
            model=args.model,
            seed=args.seed,
            decoder=args.decoder,
            precision=precision,
            style=args.style or reader.config.style,
        )
        source = f"fresh captchas, seed {args.seed}"
    if args.restrict_charset or args.restrict_length:
        scores.update(restrict_charset=args.restrict_charset, restrict_length=args.restrict_length)
    predicted = [p.text for p in predictions]
    scores["confusions"] = [[t, p, n] for (t, p), n in confusions(texts, predicted)]
    print(f"model: {args.model}")
    print(f"samples: {scores['samples']} ({source}), served in {precision}")
    print(f"sequence accuracy: {scores['sequence_accuracy']:.4%}")
    print(f"character error rate: {scores['cer']:.4%}")
    if scores["confusions"]:
        print(
            "most confused (true -> predicted, count): "
            + ", ".join(f"{t}->{p} {n}" for t, p, n in scores["confusions"])
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=2)
    if args.errors_png:
        write_prediction_grid(args.errors_png, images, texts, predictions, title="wrong predictions first")
    return 0


def evaluate_folder(reader, args, lengths=None):
    """Scores the model on a labelled folder, read at the model's input size."""
    from captcha_keras.data.folder import DataError
    from captcha_keras.data.folder import read_folder
    from captcha_keras.evaluation import evaluate_arrays

    c = reader.config
    wanted = None
    if args.only:
        with open(args.only) as f:
            wanted = {line.strip() for line in f if line.strip()}
    data = read_folder(
        args.data, c.width, c.height, c.channels, c.keep_aspect, strict=args.strict, workers=args.workers, only=wanted
    )
    missing = (wanted or set()) - set(data.files)
    if missing:
        raise DataError(
            f"{len(missing)} files of {args.only} are not usable images of {args.data}: {sorted(missing)[:5]}"
        )
    if data.problems:
        print(data.summary())
    outside = sum(bool(set(t) - set(args.restrict_charset or c.charset)) for t in data.texts)
    if outside:
        print(f"note: {outside} labels use characters the model does not know; they count as errors.")
    return evaluate_arrays(reader, data.images, data.texts, allowed=args.restrict_charset, lengths=lengths)
