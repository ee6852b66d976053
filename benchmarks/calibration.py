"""How trustworthy are confidences? Calibration objectives compared on held-out images of trained runs.

    python benchmarks/calibration.py saved_models/panel/rsc_full=data/rsc/train \
        saved_models/panel/amazon_full=data/amazon/train saved_models/panel/dark_full=data/hard/dark/train \
        saved_models/panel/faint_full=data/hard/faint/train

For each RUN=DATA (a folder run of benchmarks/real_captchas.sh and its
`--data` folder, whose seeded validation split heldout.txt lists; its
`--test-data` is in its metrics.json; or RUN=synthetic for a synthetic run:
its validation stream and `--samples` of its test stream, seed 0), reads the
validation images and the test images once with the run's model, then
scores the test images' confidences under each way of computing them:

- `best path`: the probability of the single best CTC path (what predict.py
  printed before the inference package);
- `text`: the probability of the text over every alignment, uncalibrated (T = 1);
- `likelihood`: temperature scaling fitted on validation as Guo et al. do
  (the likelihood of the true texts);
- `correctness`: the fit the runs use (`inference.calibration`): confidence
  against being right, with Platt's targets.

Fitting uses the validation images only; ECE, the precision of the 95% most
confident readings and the coverage at 99.9% precision are measured on the
test images, which no fit saw. Prints a table; writes
benchmarks/results/calibration.json.
"""

import argparse
import json
import os

import numpy as np

from captcha_keras.data.folder import read_folder
from captcha_keras.evaluation import selective_scores
from captcha_keras.inference.calibration import fit_temperature
from captcha_keras.inference.calibration import reading_confidences
from captcha_keras.inference.decoding import decode_outputs
from captcha_keras.inference.reader import Reader
from captcha_keras.runs import HELDOUT_FILE

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "calibration.json")


def outputs_of(reader, images, batch_size=256):
    parts = [reader.forward(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return (
        np.concatenate(parts)
        if reader.config.family == "ctc"
        else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    )


def folder_sets(reader, run_dir, train_root):
    """`(validation, test)` `(images, texts)` of a folder run: its heldout.txt of `train_root`, its --test-data."""
    c = reader.config
    read = dict(width=c.width, height=c.height, channels=c.channels, keep_aspect=c.keep_aspect, progress=None)
    with open(os.path.join(run_dir, HELDOUT_FILE)) as f:
        held = {line.strip() for line in f if line.strip()}
    with open(os.path.join(run_dir, "metrics.json")) as f:
        test_root = json.load(f)["data"]
    validation, test = read_folder(train_root, only=held, **read), read_folder(test_root, **read)
    return (validation.images, validation.texts), (test.images, test.texts)


def synthetic_sets(reader, samples):
    """`(validation, test)` of a synthetic run: 2,000 captchas of its validation stream (seed 0, the run's own)
    and `samples` of its test stream (seed 0, the test set of the shipped models' metrics.json)."""
    from captcha_keras.data.synthetic import draw_test_set

    return draw_test_set(reader.config, 2000, 0, stream="validation"), draw_test_set(reader.config, samples, 0)


def compare(run_dir, train_root, samples=10000):
    reader = Reader(run_dir)
    c = reader.config
    if train_root == "synthetic":
        (val_images, val_texts), (test_images, test_texts) = synthetic_sets(reader, samples)
    else:
        (val_images, val_texts), (test_images, test_texts) = folder_sets(reader, run_dir, train_root)
    validation = argparse.Namespace(texts=val_texts)
    test = argparse.Namespace(texts=test_texts)
    charset, lengths = reader.charset, (c.min_length, c.max_length)
    val_out, test_out = outputs_of(reader, val_images), outputs_of(reader, test_images)
    decoded = decode_outputs(test_out, c.family, charset, lengths=lengths)
    texts = [t for t, _ in decoded]
    correct = np.array([t == p for t, p in zip(test.texts, texts)])
    rows = {"best path": (np.array([p for _, p in decoded]), None)}
    rows["text"] = (reading_confidences(test_out, c.family, charset, texts, 1.0), 1.0)
    for objective in ("likelihood", "correctness"):
        fit = fit_temperature(val_out, c.family, charset, validation.texts, lengths, objective=objective)
        rows[objective] = (
            reading_confidences(test_out, c.family, charset, texts, fit["temperature"]),
            fit["temperature"],
        )
    result = {
        "run": run_dir,
        "validation": len(validation.texts),
        "test": len(test.texts),
        "test_accuracy": float(correct.mean()),
        "methods": {},
    }
    for name, (confidences, temperature) in rows.items():
        scores = selective_scores(confidences, correct)
        scores["temperature"] = temperature
        scores["mean_confidence"] = float(np.mean(confidences))
        result["methods"][name] = scores
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="RUN=DATA: a run folder of a --data run with --test-data, and its --data")
    p.add_argument("--out", default=OUT)
    p.add_argument("--samples", type=int, default=10000, help="test captchas of a synthetic run")
    args = p.parse_args(argv)
    results = json.load(open(args.out)) if os.path.isfile(args.out) else {}
    for pair in args.runs:
        run_dir, _, train_root = pair.partition("=")
        if not train_root:
            p.error(f"{pair}: give RUN=DATA, the run folder and the --data folder it trained on")
        result = compare(run_dir, train_root, args.samples)
        results[os.path.basename(os.path.normpath(run_dir))] = result
        print(
            f"\n{run_dir}: {result['test_accuracy']:.2%} of {result['test']} test images right; "
            f"fitted on {result['validation']} validation images"
        )
        print(f"  {'confidence':12s} {'T':>6s} {'mean':>7s} {'ECE':>7s} {'prec@95%':>9s} {'cov@99.9%':>10s}")
        for name, s in result["methods"].items():
            t = "-" if s["temperature"] is None else f"{s['temperature']:.3g}"
            print(
                f"  {name:12s} {t:>6s} {s['mean_confidence']:7.2%} {s['ece']:7.2%} "
                f"{s['precision_at_coverage']:9.2%} {s['coverage_at_precision']:10.2%}"
            )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
