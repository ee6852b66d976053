"""How to fuse an animated captcha's frames, measured (docs/animated.md).

    .venv/bin/python benchmarks/animated.py zero-shot [--samples 2000]
    .venv/bin/python benchmarks/animated.py train --minutes 10 [--fusions salient mean first]
    .venv/bin/python benchmarks/animated.py report

- `zero-shot`: fresh `--style gif` captchas (4-6 of 0-9A-Za-z, 192x64, test
  stream of seed 0) written as GIF files, each fused by every method of
  `images.FUSIONS`, read by the shipped `base_alnum`, which trained on still
  captchas of the same looks and never on an animation: the fusion that
  leaves the characters as a still captcha shows them reads best. No
  training; the same files for every fusion.
- `train`: the default command with `--style gif --length 4-6` for
  `--minutes`, once per fusion (`CAPTCHA_KERAS_FUSION`, which the run
  records and its readers use), scored on 10,000 fresh animated captchas;
  `first` is what the first frame alone reads.
- `report`: prints the tables.

Results merge into benchmarks/results/animated.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from results_json import load_results  # noqa: E402
from results_json import save_results  # noqa: E402

RESULTS = os.path.join(HERE, "results", "animated.json")
RUNS = os.path.join(ROOT, "saved_models", "animated")


def zero_shot(samples):
    """Sequence accuracy and CER of base_alnum on the same animated captchas under each fusion."""
    import numpy as np
    import tqdm

    from captcha_keras import Reader
    from captcha_keras.data.styles import encode_animation
    from captcha_keras.data.styles import render_animation
    from captcha_keras.data.synthetic import SyntheticCaptchas
    from captcha_keras.evaluation import score
    from captcha_keras.images import FUSIONS
    from captcha_keras.images import load_image
    from captcha_keras.images import to_model_input

    reader = Reader("base_alnum")
    c = reader.config
    stream = SyntheticCaptchas(
        c.charset, c.width, c.height, "4-6", batch_size=samples, steps=1, seed=0, stream="test", family=None
    )
    texts, seeds, _ = stream.plan_batch(0)
    files = [
        encode_animation(render_animation(t, int(s), c.width, c.height))
        for t, s in tqdm.tqdm(list(zip(texts, seeds)), desc="drawing")
    ]
    rows = {}
    for fusion in FUSIONS:
        images = np.stack([to_model_input(load_image(f, fusion=fusion), c.width, c.height, c.channels) for f in files])
        readings = []
        for start in range(0, samples, 256):
            readings += reader.read_arrays(images[start : start + 256], lengths=(4, 6))
        rows[fusion] = score(texts, [r.text or "" for r in readings])
        print(f"{fusion:>9}: sequence {rows[fusion]['sequence_accuracy']:.2%}, CER {rows[fusion]['cer']:.2%}")
    return {"model": "base_alnum", "samples": samples, "lengths": "4-6", "seed": 0, "rows": rows}


def train(fusion, minutes, samples=10000):
    """The default command on `--style gif` with `fusion`; its row: accuracy on `samples` fresh animations."""
    name = f"gif_{fusion}_{minutes:g}min"
    run = os.path.join(RUNS, name)
    if not os.path.isfile(os.path.join(run, "metrics.json")):
        command = [sys.executable, os.path.join(ROOT, "scripts", "train_ctc.py"), "--style", "gif"]
        command += ["--length", "4-6", "--max-minutes", str(minutes), "--eval-samples", str(samples)]
        command += ["--run-name", name, "--output-dir", RUNS, "--overwrite", "--verbose", "2"]
        command += ["--logs-dir", os.path.join(ROOT, "logs", "animated")]
        print(" ".join(command), flush=True)
        started = time.time()
        subprocess.run(command, check=True, env={**os.environ, "CAPTCHA_KERAS_FUSION": fusion})
        with open(os.path.join(run, "wall_minutes.txt"), "w") as f:
            f.write(f"{(time.time() - started) / 60:.2f}\n")
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    return name, {
        "fusion": fusion,
        "minutes": minutes,
        "sequence_accuracy": metrics["sequence_accuracy"],
        "cer": metrics["cer"],
        "samples": metrics["samples"],
        "run": os.path.relpath(run, ROOT),
    }


def report(results):
    shot = results.get("zero_shot")
    if shot:
        print(f"zero-shot, {shot['model']} on {shot['samples']:,} animated captchas ({shot['lengths']} characters):")
        print("| fusion | sequence accuracy | CER |\n| --- | ---: | ---: |")
        for fusion, r in shot["rows"].items():
            print(f"| {fusion} | {r['sequence_accuracy']:.2%} | {r['cer']:.2%} |")
    trained = results.get("trained", {})
    if trained:
        print("\n| run | fusion | minutes | 10,000 fresh | CER |\n| --- | --- | ---: | ---: | ---: |")
        for name, r in sorted(trained.items()):
            print(f"| {name} | {r['fusion']} | {r['minutes']:g} | {r['sequence_accuracy']:.2%} | {r['cer']:.2%} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("zero-shot", "train", "report"))
    parser.add_argument("--samples", type=int, default=2000, help="zero-shot: animated captchas read")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--fusions", nargs="+", default=["salient", "mean", "darkest", "first"])
    args = parser.parse_args()
    results = load_results(RESULTS)
    if args.what == "zero-shot":
        results["zero_shot"] = zero_shot(args.samples)
        save_results(RESULTS, results)
    elif args.what == "train":
        for fusion in args.fusions:
            name, row = train(fusion, args.minutes)
            results = load_results(RESULTS)
            results.setdefault("trained", {})[name] = row
            save_results(RESULTS, results)
    report(results)


if __name__ == "__main__":
    main()
