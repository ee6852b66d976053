"""Score a trained run on fresh, seeded captchas drawn with its own settings, or on a labelled folder.

    python scripts/evaluate.py --model saved_models/ctc_default --samples 10000 --seed 123 --json out.json
    python scripts/evaluate.py --model saved_models/really_simple_captcha --data DIR --errors-png errors.png

Prints the scores and how far the confidences can be trusted: the expected
calibration error, and the precision of the readings kept when the doubtful
ones are refused (precision against coverage). A run you trained gets them in
`<run>/evaluations/` (a JSON and the reliability diagram beside the
precision-coverage curve); --json and --errors-png keep them anywhere.
"""

import argparse
import json
import os

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
    p.add_argument(
        "--report-dir",
        help="where the scores' JSON and calibration PNG go (default: <run>/evaluations/ for a run you "
        "trained; none for a shipped model)",
    )
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
    if "answer_accuracy" in scores:
        print(f"answers right: {scores['answer_accuracy']:.4%} (answered: {scores['answered']:.4%})")
    if scores["confusions"]:
        print(
            "most confused (true -> predicted, count): "
            + ", ".join(f"{t}->{p} {n}" for t, p, n in scores["confusions"])
        )
    report_calibration(scores, texts, predictions)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=2)
    report_dir = args.report_dir or default_report_dir(reader)
    if report_dir:
        write_report(report_dir, report_name(args), scores, texts, predictions, source)
    if args.errors_png:
        write_prediction_grid(args.errors_png, images, texts, predictions, title="wrong predictions first")
    return 0


# Thresholds of the coverage table evaluate.py prints.
THRESHOLDS = (0.5, 0.9, 0.99, 0.999)


def report_calibration(scores, texts, predictions):
    """Adds the confidence figures to `scores` and prints them: ECE, precision at 95% coverage, a coverage table."""
    from captcha_keras.evaluation import confidence_outcomes
    from captcha_keras.evaluation import selective_scores

    confidences, correct = confidence_outcomes(predictions, texts)
    scores.update(selective_scores(confidences, correct))
    rows = []
    for threshold in THRESHOLDS:
        kept = [c for p, c in zip(confidences, correct) if p >= threshold]
        rows.append(
            {
                "min_confidence": threshold,
                "coverage": len(kept) / len(correct),
                "precision": sum(kept) / len(kept) if kept else None,
            }
        )
    scores["coverage_table"] = rows
    print(f"expected calibration error: {scores['ece']:.2%}")
    print(
        f"the {scores['coverage']:.0%} most confident readings: {scores['precision_at_coverage']:.2%} right "
        f"(min_confidence {scores['threshold_at_coverage']:.4f}); precision >= {scores['target_precision']:.1%} "
        f"keeps {scores['coverage_at_precision']:.2%}"
    )
    print(
        "min_confidence -> coverage, precision: "
        + ", ".join(
            f"{r['min_confidence']:g} -> {r['coverage']:.1%}, "
            + (f"{r['precision']:.2%}" if r["precision"] is not None else "-")
            for r in rows
        )
    )


def default_report_dir(reader):
    """`<run>/evaluations` for a run of yours; None for a shipped or packaged model, whose folder stays as shipped."""
    from captcha_keras.runs import EVALUATIONS_DIR
    from captcha_keras.runs import is_shipped

    if reader.path is None or is_shipped(reader.path) or not os.access(reader.path, os.W_OK):
        return None
    return os.path.join(reader.path, EVALUATIONS_DIR)


def report_name(args):
    """The file name stem of an evaluation: the data folder (with its parent) and what restricted it,
    or the synthetic seed and style."""
    if args.data:
        folder = os.path.normpath(os.path.abspath(args.data))
        parts = [os.path.basename(os.path.dirname(folder)), os.path.basename(folder)]
        if args.only:
            parts.append(os.path.splitext(os.path.basename(args.only))[0])
    else:
        parts = [f"synthetic_seed{args.seed}"] + ([args.style] if args.style else [])
    if args.restrict_charset:
        parts.append("charset" + str(len(args.restrict_charset)))
    if args.restrict_length:
        parts.append("length" + args.restrict_length)
    if args.decoder != "greedy":
        parts.append(args.decoder)
    return "_".join(p for p in parts if p)


def write_report(folder, name, scores, texts, predictions, source):
    """Writes `<name>.json` and `<name>_calibration.png` into `folder` and says where."""
    from captcha_keras.evaluation import plot_confidences

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.json"), "w") as f:
        json.dump(scores, f, indent=2)
    png = os.path.join(folder, f"{name}_calibration.png")
    plot_confidences(png, predictions, texts, title=f"ECE {scores['ece']:.2%} on {len(texts)} {source}")
    print(f"written: {os.path.join(folder, name)}.json, {png}")


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
        args.data,
        c.width,
        c.height,
        c.channels,
        c.keep_aspect,
        strict=args.strict,
        workers=args.workers,
        only=wanted,
        fusion=c.fusion,
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
