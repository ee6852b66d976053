"""Every export format of both defaults and the references, side by side, in one run.

    python benchmarks/bench_export.py            # about 12 minutes on 2 cores
    python benchmarks/bench_export.py --quick    # 1,000 captchas, one timing round

For ctc_default and cnn_default (the shipped runs) and the reference
architectures (crnn_ctc and vgg_multihead of ypwhs/captcha_break, untrained:
their speed and size only), writes each export with `export_run` (so each is
also checked, as `scripts/export.py` does) into a copy of the run, then for
every format measures:

- the file size (a SavedModel: its whole folder);
- p50 latency of one image through the model (the runtime's call, no decoding);
- images/s at batch 256 (the same), best of the timing rounds, the formats
  interleaved within each round so that drift on a shared machine hits all;
- accuracy on 10,000 fresh test captchas (seed 31337), decoded as Reader does;
- for the SavedModel also its reading signature: PNG bytes in, texts out.

Ratios against the float32 SavedModel of the same model are computed from
the same run. Prints a table and writes benchmarks/results/export-<date>.json.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from captcha_keras import Reader
from captcha_keras.data.synthetic import draw_test_set
from captcha_keras.export.checks import encode_png
from captcha_keras.export.run import export_run
from captcha_keras.runs import RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = [("savedmodel", None), ("onnx", None), ("litert", None), ("litert", "dynamic"), ("litert", "int8")]
SEED = 31337


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1,000 captchas and one timing round")
    p.add_argument("--samples", type=int, default=10_000, help="captchas each format is scored on")
    p.add_argument("--rounds", type=int, default=3, help="timing rounds (formats interleaved in each)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference architectures")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"), help="where the JSON goes")
    return p.parse_args(argv)


def reference_run(folder, arch, family):
    """An untrained reference model as a run folder (best.keras, config.json) of the defaults' task."""
    from captcha_keras.models import build_model

    config = RunConfig(
        arch=arch,
        family=family,
        charset="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        width=128,
        height=64,
        min_length=4,
        max_length=4,
        channels=3,
    )
    model = build_model(
        arch,
        len(config.charset),
        height=config.height,
        width=config.width,
        channels=config.channels,
        min_length=4,
        max_length=4,
    )
    os.makedirs(folder)
    model.save(os.path.join(folder, "best.keras"))
    config.save(folder)
    return folder


def timings(reader, images, batch_size=256, single=100):
    """`(p50 ms of one image, images/s at batch_size)` of the model call alone."""
    reader.forward(images[:batch_size])  # warm-up: traces, allocates
    reader.forward(images[:1])
    started = time.perf_counter()
    count = 0
    for start in range(0, min(len(images), 2048), batch_size):
        batch = images[start : start + batch_size]
        reader.forward(batch)
        count += len(batch)
    rate = count / (time.perf_counter() - started)
    latencies = []
    for i in range(single):
        t = time.perf_counter()
        reader.forward(images[i : i + 1])
        latencies.append(time.perf_counter() - t)
    return statistics.median(latencies) * 1000, rate


def accuracy(reader, images, texts, batch_size=256):
    read = [p.text for s in range(0, len(images), batch_size) for p in reader.read_arrays(images[s : s + batch_size])]
    return float(np.mean([a == b for a, b in zip(read, texts)]))


def signature_rate(run_dir, pngs, batch_size=256):
    """images/s of the SavedModel's reading signature: PNG bytes in, texts out."""
    import tensorflow as tf

    read = tf.saved_model.load(os.path.join(run_dir, "savedmodel")).signatures["serving_default"]
    read(images=tf.constant(pngs[:batch_size]))
    started = time.perf_counter()
    for start in range(0, len(pngs), batch_size):
        read(images=tf.constant(pngs[start : start + batch_size]))
    return len(pngs) / (time.perf_counter() - started)


def bench_model(name, run_dir, samples, rounds, trained):
    print(f"\n== {name}: exporting and checking each format")
    rows = {}
    skipped = {}
    for format, quantize in FORMATS:
        try:
            result = export_run(run_dir, format, quantize=quantize, samples=500, log=lambda line: print("  " + line))
        except Exception as error:  # a failed check or conversion is reported, and the format left out
            message = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            print(f"  {format} {quantize or ''}: FAILED: {message}")
            skipped[f"{format}-{quantize}" if quantize else format] = f"{type(error).__name__}: {message}"
            continue
        rows[result["format"]] = {"bytes": result["bytes"], "check": result["check"]}
    config = RunConfig.load(run_dir)
    images, texts = draw_test_set(config, samples, SEED)
    readers = {f: Reader(run_dir, format=f) for f in rows}
    for round_ in range(rounds):
        print(f"  timing round {round_ + 1}/{rounds}")
        for f, reader in readers.items():
            p50, rate = timings(reader, images)
            row = rows[f]
            row["p50_ms"] = min(row.get("p50_ms", p50), p50)
            row["images_per_s"] = max(row.get("images_per_s", rate), rate)
    for f, reader in readers.items():
        rows[f]["accuracy"] = accuracy(reader, images, texts) if trained else None
    pngs = [encode_png(a) for a in images[:2048]]
    rows["savedmodel"]["bytes_in_images_per_s"] = signature_rate(run_dir, pngs)
    base = rows["savedmodel"]
    for row in rows.values():
        row["speed_vs_savedmodel"] = row["images_per_s"] / base["images_per_s"]
        row["size_vs_savedmodel"] = row["bytes"] / base["bytes"]
        if trained:
            row["accuracy_points_vs_savedmodel"] = (row["accuracy"] - base["accuracy"]) * 100
    return {
        "model": name,
        "trained": trained,
        "samples": samples if trained else 0,
        "formats": rows,
        "failed_checks": skipped,
    }


def print_table(results):
    print("\n| model | format | size MB | size / SM | p50 1 image ms | img/s @256 | speed / SM | accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        for f, row in result["formats"].items():
            acc = f"{row['accuracy']:.2%}" if row["accuracy"] is not None else "untrained"
            print(
                f"| {result['model']} | {f} | {row['bytes'] / 1e6:.2f} | {row['size_vs_savedmodel']:.2f} | "
                f"{row['p50_ms']:.2f} | {row['images_per_s']:.0f} | {row['speed_vs_savedmodel']:.2f}x | {acc} |"
            )
    for result in results:
        sm = result["formats"]["savedmodel"]
        print(
            f"{result['model']}: SavedModel reading signature (PNG bytes in, texts out) "
            f"{sm['bytes_in_images_per_s']:.0f} img/s at batch 256"
        )


def targets(results):
    """The issue's targets on the defaults: int8 >= 2x SM speed, <= 1/3 size, within 0.3 points; ONNX >= SM."""
    out = {}
    for result in results:
        if not result["trained"]:
            continue
        rows = result["formats"]
        int8, onnx = rows["litert-int8"], rows["onnx"]
        out[result["model"]] = {
            "int8_speed_at_least_2x": int8["speed_vs_savedmodel"] >= 2,
            "int8_size_at_most_a_third": int8["size_vs_savedmodel"] <= 1 / 3,
            "int8_within_0.3_points": int8["accuracy_points_vs_savedmodel"] >= -0.3,
            "onnx_at_least_as_fast": onnx["speed_vs_savedmodel"] >= 1,
        }
    return out


def main(argv=None):
    args = parse_args(argv)
    samples, rounds = (1000, 1) if args.quick else (args.samples, args.rounds)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        models = [(n, os.path.join(ROOT, "saved_models", n), True) for n in ("ctc_default", "cnn_default")]
        if not args.no_reference:
            models += [
                ("reference crnn_ctc", reference_run(os.path.join(folder, "ref_ctc"), "crnn_ctc", "ctc"), False),
                (
                    "reference vgg_multihead",
                    reference_run(os.path.join(folder, "ref_cnn"), "vgg_multihead", "multihead"),
                    False,
                ),
            ]
        for name, source, trained in models:
            run_dir = os.path.join(folder, name.replace(" ", "_") + "_run")
            shutil.copytree(source, run_dir)
            results.append(bench_model(name, run_dir, samples if trained else min(samples, 2048), rounds, trained))
    print_table(results)
    met = targets(results)
    print(json.dumps(met, indent=2))
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"export-{datetime.date.today()}{'-quick' if args.quick else ''}.json")
    with open(path, "w") as f:
        json.dump(
            {
                "date": str(datetime.date.today()),
                "cores": os.cpu_count(),
                "seed": SEED,
                "results": results,
                "targets": met,
            },
            f,
            indent=2,
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
