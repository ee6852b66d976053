"""Which readings should become pseudo-labels? Selection rules measured on images whose names hold their labels.

    python benchmarks/pseudo_selection.py saved_models/panel/rsc_50_semi data/rsc_low50/rest

Reads the unlabelled folder of an `--unlabelled` run (benchmarks/real_captchas.sh `*_semi`; its files are
named by their labels, which the run never read) with the run's round 0 model (labels alone) and round 1
model, and scores each rule a round could use to keep readings: how many it keeps and how many of those are
right (their labels from the file names). Rules: a calibrated confidence threshold alone; the threshold and
the same text from an augmented copy (`--pseudo-stable`, the default); the threshold and the same text from
the round before (stability across rounds). Prints a table; writes benchmarks/results/pseudo_selection.json.
"""

import argparse
import json
import os

import numpy as np

from captcha_keras.data.labels import label_from_name
from captcha_keras.inference.reader import Reader
from captcha_keras.training.pseudo import read_unlabelled
from captcha_keras.training.pseudo import select_pseudo_labels

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "pseudo_selection.json")
THRESHOLDS = (0.5, 0.9, 0.99, 0.999)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="an --unlabelled run folder (with rounds/round0 and rounds/round1)")
    p.add_argument("unlabelled", help="its --unlabelled folder, whose file names hold the labels")
    p.add_argument("--out", default=OUT)
    args = p.parse_args(argv)
    first = Reader(os.path.join(args.run, "rounds", "round0"))
    second_dir = os.path.join(args.run, "rounds", "round1")
    files, images = read_unlabelled(args.unlabelled, first.config)
    truths = np.array([label_from_name(os.path.basename(f)) for f in files])
    models = {"round 0": first}
    if os.path.isdir(second_dir):
        models["round 1"] = Reader(second_dir)
    readings = {}
    for name, reader in models.items():
        readings[name] = select_pseudo_labels(reader, images, threshold=0.0, stable=True)
    rows = []
    for name, selection in readings.items():
        texts = np.array(selection.texts)
        right = texts == truths
        rules = {"confidence": np.ones(len(texts), bool), "confidence + augmented copy": selection.stable}
        if name == "round 1":
            rules["confidence + round 0 agrees"] = texts == np.array(readings["round 0"].texts)
        for rule, extra in rules.items():
            for threshold in THRESHOLDS:
                keep = (selection.confidences >= threshold) & extra
                rows.append(
                    {
                        "model": name,
                        "rule": rule,
                        "threshold": threshold,
                        "kept": int(keep.sum()),
                        "coverage": float(keep.mean()),
                        "wrong": int((keep & ~right).sum()),
                        "precision": float(right[keep].mean()) if keep.any() else None,
                    }
                )
        print(f"{name}: reads {right.mean():.2%} of the {len(texts):,} unlabelled images right")
    print(
        f"\n{'model':8s} {'rule':30s} {'threshold':>9s} {'kept':>6s} {'coverage':>9s} {'wrong':>6s} {'precision':>9s}"
    )
    for r in rows:
        precision = "-" if r["precision"] is None else f"{r['precision']:.3%}"
        print(
            f"{r['model']:8s} {r['rule']:30s} {r['threshold']:9g} {r['kept']:6d} {r['coverage']:9.2%} "
            f"{r['wrong']:6d} {precision:>9s}"
        )
    results = json.load(open(args.out)) if os.path.isfile(args.out) else {}
    results[os.path.basename(os.path.normpath(args.run))] = {"unlabelled": len(files), "rows": rows}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
