"""Throughput measurements: reference vs. default architectures, in one run.

Absolute times drift on shared machines, so every figure that matters is
also given as a ratio to the reference architecture measured in the same run.
"""

import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from captcha_keras.charset import Charset
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.data.targets import make_targets
from captcha_keras.export import export_savedmodel
from captcha_keras.models import ARCHITECTURES
from captcha_keras.models import DEFAULT
from captcha_keras.models import REFERENCE
from captcha_keras.models import build_model
from captcha_keras.models import default_channels
from captcha_keras.training import compile_model

def with_channels(images, channels):
    """RGB images as the model reads them: unchanged, or averaged to one channel."""
    return images if channels == 3 else images.mean(-1, keepdims=True)


def machine():
    """A short description of where the figures were taken."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "gpus": [g.name for g in gpus],
        "tensorflow": tf.__version__,
    }


def training_throughput(arch, images, texts, charset, batch_size=128, steps=6):
    """Training images/s of `arch` from memory, after one warm-up step."""
    family = ARCHITECTURES[arch]["family"]
    channels = default_channels(arch)
    images = with_channels(images, channels)
    model = build_model(arch, len(charset), images.shape[1], images.shape[2], channels)
    compile_model(model, family, charset, 1e-3)
    x = images[: batch_size * steps].astype("float32")
    y = make_targets(texts[: batch_size * steps], charset, family, 4)
    first = (x[:batch_size], y[:batch_size] if family == "ctc" else {k: v[:batch_size] for k, v in y.items()})
    model.fit(*first, batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - start), model


def inference_throughput(model, images, batch_sizes=(1, 256), repeats=50):
    """SavedModel images/s per batch size, and batch-1 latency percentiles (ms)."""
    import tensorflow as tf

    images = with_channels(images, model.input_shape[-1])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        export_savedmodel(model, folder)
        loaded = tf.saved_model.load(folder)
        for batch in batch_sizes:
            x = tf.constant(images[:batch].astype("float32"))
            loaded.serve(x)
            times = []
            for _ in range(repeats if batch == 1 else max(3, repeats // 10)):
                start = time.perf_counter()
                loaded.serve(x)
                times.append(time.perf_counter() - start)
            results[f"batch{batch}_img_s"] = batch / statistics.median(times)
            if batch == 1:
                results["latency_p50_ms"] = 1000 * statistics.median(times)
                results["latency_p90_ms"] = 1000 * float(np.percentile(times, 90))
    return results


def data_throughput(workers=2, batches=8, batch_size=128):
    """Synthetic captchas drawn per second with `workers` processes."""
    data = SyntheticCaptchas(batch_size=batch_size, steps=batches, seed=1, family=None)
    start = time.perf_counter()
    draw_batches(data, workers=workers)
    return batches * batch_size / (time.perf_counter() - start)


def run(quick=True, batch_size=128):
    """Measures everything; returns the results dict."""
    charset = Charset("alnum_upper")
    steps = 3 if quick else 8
    data = SyntheticCaptchas(batch_size=batch_size, steps=steps, seed=0, family=None)
    images, texts = draw_batches(data, workers=2, progress="benchmark captchas")
    results = {"machine": machine(), "quick": quick, "batch_size": batch_size, "models": {}}
    results["data_img_s"] = {"workers_1": data_throughput(1, 4), "workers_2": data_throughput(2, 8)}
    for family in ("ctc", "multihead"):
        for role, arch in (("reference", REFERENCE[family]), ("default", DEFAULT[family])):
            print(f"measuring {arch} ({role})...", flush=True)
            train_img_s, model = training_throughput(arch, images, texts, charset, batch_size, steps - 1)
            entry = {"family": family, "role": role, "parameters": int(model.count_params()), "train_img_s": train_img_s}
            entry.update(inference_throughput(model, images, repeats=20 if quick else 100))
            results["models"][arch] = entry
        ref, default = results["models"][REFERENCE[family]], results["models"][DEFAULT[family]]
        default["train_speedup"] = default["train_img_s"] / ref["train_img_s"]
        default["inference_speedup"] = default["batch256_img_s"] / ref["batch256_img_s"]
    return results


def time_to_accuracy(run_dirs, thresholds=(0.9, 0.95, 0.97, 0.99, 0.995)):
    """Time-to-accuracy of trained runs, read from their `training.csv`.

    Returns:
        `{run: {"minutes": [...], "val_seq_acc": [...], "first_minute": {threshold: minute or None},
        "final": metrics.json sequence accuracy or None}}`.
    """
    from captcha_keras.plots import read_history

    curves = {}
    for run_dir in run_dirs:
        history = read_history(os.path.join(run_dir, "training.csv"))
        minutes, accuracy = history.get("minutes", []), history.get("val_seq_acc", [])
        first = {
            str(t): next((m for m, a in zip(minutes, accuracy) if a >= t), None) for t in thresholds
        }
        metrics_path = os.path.join(run_dir, "metrics.json")
        final = None
        if os.path.isfile(metrics_path):
            with open(metrics_path) as f:
                final = json.load(f).get("sequence_accuracy")
        curves[os.path.basename(os.path.normpath(run_dir))] = {
            "minutes": minutes,
            "val_seq_acc": accuracy,
            "first_minute": first,
            "final": final,
        }
    return curves


def format_time_to_accuracy(curves):
    """A Markdown table: minutes to reach each accuracy, and the final score."""
    thresholds = list(next(iter(curves.values()))["first_minute"]) if curves else []
    lines = [
        "| run | " + " | ".join(f"min to {float(t):.1%}" for t in thresholds) + " | best val | final (fresh test) |",
        "| --- |" + " ---: |" * (len(thresholds) + 2),
    ]
    for run, c in curves.items():
        cells = [f"{c['first_minute'][t]:.1f}" if c["first_minute"][t] is not None else "not reached" for t in thresholds]
        best = f"{max(c['val_seq_acc']):.2%}" if c["val_seq_acc"] else "-"
        final = f"{c['final']:.2%}" if c["final"] is not None else "-"
        lines.append(f"| {run} | " + " | ".join(cells) + f" | {best} | {final} |")
    return "\n".join(lines)


def format_table(results):
    """A Markdown table of the results, for the terminal and the README."""
    lines = [
        "| model | role | params | train img/s | infer img/s (b=256) | infer img/s (b=1) | p50 latency ms | speed-up train / infer |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for arch, r in results["models"].items():
        speedup = f"{r['train_speedup']:.1f}x / {r['inference_speedup']:.1f}x" if "train_speedup" in r else "1x / 1x"
        lines.append(
            f"| {arch} | {r['role']} | {r['parameters']:,} | {r['train_img_s']:.0f} | {r['batch256_img_s']:.0f} "
            f"| {r['batch1_img_s']:.0f} | {r['latency_p50_ms']:.2f} | {speedup} |"
        )
    d = results["data_img_s"]
    lines.append("")
    lines.append(f"Captcha drawing: {d['workers_1']:.0f} img/s with 1 process, {d['workers_2']:.0f} img/s with 2.")
    return "\n".join(lines)
