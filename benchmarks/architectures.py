"""The recognizers side by side (docs/architectures.md): speed, size, and accuracy at one budget.

    .venv/bin/python benchmarks/architectures.py speed [--archs A B ...]
    .venv/bin/python benchmarks/architectures.py synthetic --minutes 20 [--archs A B ...]
    .venv/bin/python benchmarks/architectures.py report

- `speed`: parameters, training images/s (batch 128, at the precision
  `--precision auto` picks), SavedModel images/s at batch 256 and p50 for
  one image, int8 LiteRT p50 for one image and file size. Every figure is
  also given as a ratio to the default recognizer measured in the same run:
  absolute times drift on a shared machine.
- `synthetic`: the default command with `--arch A --max-minutes M` (run
  folders `saved_models/architectures/<arch>_<M>min`, skipped when done),
  scored on 10,000 fresh test captchas of seed 0 (the metrics.json of the
  run), with the character error split into 0/O and the rest.
- `report`: prints the table of what was measured.

Results merge into benchmarks/results/architectures.json (a row per arch and
measurement; a new measurement replaces its row).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from results_json import load_results  # noqa: E402
from results_json import save_results  # noqa: E402

RESULTS = os.path.join(HERE, "results", "architectures.json")
RUNS = os.path.join(ROOT, "saved_models", "architectures")
ARCHS = ("crnn_ctc_fast_wide", "crnn_resnet", "svtr_cpu", "svtr_tiny")
PAIR = "0O"


def int8_latency(model, images, repeats=100):
    """Writes `model` as int8 LiteRT (calibrated on `images`) and times one image: `(p50 ms, bytes)`."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from captcha_keras.export.portable import write_litert

    with tempfile.TemporaryDirectory() as folder:
        path = write_litert(
            model,
            os.path.join(folder, "m.tflite"),
            "int8",
            lambda: (images[i : i + 1].astype("float32") for i in range(64)),
        )
        size = os.path.getsize(path)
        interpreter = Interpreter(model_path=path, num_threads=2)
        interpreter.allocate_tensors()
        (entry,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        x = images[:1].astype(np.float32)
        times = []
        for _ in range(repeats + 5):
            start = time.perf_counter()
            interpreter.set_tensor(entry["index"], x)
            interpreter.invoke()
            interpreter.get_tensor(out["index"])
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times[5:]), size


def measure_speed(archs, batch_size=128, steps=12):
    """Speed and size of each architecture (untrained: the cost does not depend on the weights)."""
    from throughput import inference_throughput
    from throughput import machine
    from throughput import training_throughput
    from throughput import with_channels

    from captcha_keras.charset import Charset
    from captcha_keras.data.synthetic import SyntheticCaptchas
    from captcha_keras.data.synthetic import draw_batches
    from captcha_keras.models import default_channels
    from captcha_keras.precision import resolve_precision

    charset = Charset("alnum_upper")
    data = SyntheticCaptchas(batch_size=batch_size, steps=4, seed=0, family=None)
    images, texts = draw_batches(data, workers=2, progress="benchmark captchas")
    precision = resolve_precision("auto")
    rows = {}
    for arch in archs:
        print(f"measuring {arch} ({precision})...", flush=True)
        train_img_s, model = training_throughput(arch, images, texts, charset, batch_size, steps, precision)
        served = inference_throughput(model, images, repeats=50)
        int8_ms, int8_bytes = int8_latency(model, with_channels(images, default_channels(arch)))
        rows[arch] = {
            "parameters": int(model.count_params()),
            "time_steps": int(model.output_shape[1]),
            "train_img_s": round(train_img_s, 1),
            "savedmodel_batch256_img_s": round(served["batch256_img_s"], 1),
            "savedmodel_p50_ms": round(served["latency_p50_ms"], 2),
            "int8_p50_ms": round(int8_ms, 2),
            "int8_bytes": int8_bytes,
            "precision": precision,
        }
        print(json.dumps(rows[arch]), flush=True)
    base = rows.get(ARCHS[0])
    if base:
        for row in rows.values():
            row["train_vs_default"] = round(row["train_img_s"] / base["train_img_s"], 3)
            row["batch256_vs_default"] = round(row["savedmodel_batch256_img_s"] / base["savedmodel_batch256_img_s"], 3)
            row["p50_vs_default"] = round(row["savedmodel_p50_ms"] / base["savedmodel_p50_ms"], 3)
    return {"machine": machine(), "measured": time.strftime("%Y-%m-%d"), "rows": rows}


def character_errors(texts, readings):
    """Character error rates of 0/O and of every other character: a reading of another length counts all wrong."""
    counts = {True: [0, 0], False: [0, 0]}
    for truth, reading in zip(texts, readings):
        for i, character in enumerate(truth):
            tally = counts[character in PAIR]
            tally[0] += 1
            tally[1] += len(reading) != len(truth) or reading[i] != character
    (pair_n, pair_wrong), (other_n, other_wrong) = counts[True], counts[False]
    return {
        "zero_o_characters": pair_n,
        "zero_o_error": pair_wrong / max(pair_n, 1),
        "other_error": other_wrong / max(other_n, 1),
    }


def train_synthetic(arch, minutes, samples=10000, lr=None):
    """The default command with `--arch` (and `--lr` when given), scored on `samples` fresh captchas:
    the row of `arch` at `minutes`."""
    from captcha_keras import Reader
    from captcha_keras.evaluation import evaluate_synthetic

    name = f"{arch}_{minutes:g}min" + (f"_lr{lr:g}" if lr else "")
    run = os.path.join(RUNS, name)
    if not os.path.isfile(os.path.join(run, "metrics.json")):
        command = [sys.executable, os.path.join(ROOT, "scripts", "train_ctc.py"), "--arch", arch]
        command += ["--lr", str(lr)] if lr else []
        command += ["--max-minutes", str(minutes), "--eval-samples", str(samples), "--run-name", name]
        command += ["--output-dir", RUNS, "--logs-dir", os.path.join(ROOT, "logs", "architectures"), "--overwrite"]
        command += ["--verbose", "2"]
        print(" ".join(command), flush=True)
        started = time.time()
        subprocess.run(command, check=True)
        with open(os.path.join(run, "wall_minutes.txt"), "w") as f:
            f.write(f"{(time.time() - started) / 60:.2f}\n")
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    scores, _, texts, readings = evaluate_synthetic(Reader(run), samples, seed=0)
    row = {
        "sequence_accuracy": scores["sequence_accuracy"],
        "cer": scores["cer"],
        "samples": samples,
        "metrics_json_accuracy": metrics.get("sequence_accuracy"),
        "run": os.path.relpath(run, ROOT),
        **character_errors(texts, [r.text or "" for r in readings]),
    }
    wall = os.path.join(run, "wall_minutes.txt")
    if os.path.isfile(wall):
        row["wall_minutes"] = float(open(wall).read())
    print(json.dumps({name: row}), flush=True)
    return name, row


def report(results):
    speed = results.get("speed", {}).get("rows", {})
    if speed:
        print(
            "| recognizer | parameters | time steps | train img/s | x default | SavedModel b256 img/s | p50 1 image ms "
            "| int8 p50 ms | int8 MB |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for arch, r in speed.items():
            print(
                f"| {arch} | {r['parameters']:,} | {r['time_steps']} | {r['train_img_s']:.0f} | "
                f"{r.get('train_vs_default', float('nan')):.2f} | {r['savedmodel_batch256_img_s']:.0f} | "
                f"{r['savedmodel_p50_ms']:.1f} | {r['int8_p50_ms']:.1f} | {r['int8_bytes'] / 1e6:.2f} |"
            )
    synthetic = results.get("synthetic", {})
    if synthetic:
        print("\n| run | 10,000 fresh | CER | 0/O char error | other char error | wall min |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, r in sorted(synthetic.items()):
            if r.get("sequence_accuracy") is None:  # a run that did not learn, recorded by hand with why
                print(f"| {name} | did not learn | | | | |  <- {r.get('note', '')}")
                continue
            print(
                f"| {name} | {r['sequence_accuracy']:.2%} | {r['cer']:.2%} | {r['zero_o_error']:.2%} | "
                f"{r['other_error']:.3%} | {r.get('wall_minutes', float('nan')):.1f} |"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("speed", "synthetic", "report"))
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--lr", type=float, help="phase-1 learning rate (default: the recipe's)")
    args = parser.parse_args()
    results = load_results(RESULTS)
    if args.what == "speed":
        results["speed"] = measure_speed(args.archs)
        save_results(RESULTS, results)
    elif args.what == "synthetic":
        for arch in args.archs:
            name, row = train_synthetic(arch, args.minutes, lr=args.lr)
            results = load_results(RESULTS)  # another invocation may have written meanwhile
            results.setdefault("synthetic", {})[name] = row
            save_results(RESULTS, results)
    report(results)


if __name__ == "__main__":
    main()
