"""Throughput measurements: reference vs. default architectures, in one run.

Absolute times drift on shared machines, so every figure that matters is
also given as a ratio to the reference architecture measured in the same run.

Longer than this project's ~300-line rule: training, inference, data-stream
and time-to-accuracy figures share the model set-up, the timing helpers and
the one table they are printed in, and are read together.
"""

import json
import os
import platform
import statistics
import tempfile
import time

import keras
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
from captcha_keras.precision import build_with_policy
from captcha_keras.precision import float32_copy
from captcha_keras.precision import resolve_precision
from captcha_keras.precision import resolve_serving_precision
from captcha_keras.precision import serving_precision
from captcha_keras.training.phases import compile_model


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


class StepTimes(keras.callbacks.Callback):
    """Records the wall-clock seconds of each training batch in `times`."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def training_throughput(arch, images, texts, charset, batch_size=128, steps=6, precision="float32", warmup=3):
    """Training images/s of `arch` from memory: batch size over the median step time.

    The median of `steps` timed batches (after `warmup` untimed ones) rather
    than one `fit` timed whole: on a shared CPU a single slow stretch would
    otherwise decide the figure (a 6-step `fit` measured the same model at
    296 and 512 img/s in one minute; medians of 16 steps agree within 2%).
    `images` are cycled when there are fewer than the steps need.

    Returns `(images/s, model)`; the model is float32 whatever `precision`
    trained it, as a finished run saves it.
    """
    family = ARCHITECTURES[arch]["family"]
    channels = default_channels(arch)
    images = with_channels(images, channels)

    def build():
        return build_model(arch, len(charset), height=images.shape[1], width=images.shape[2], channels=channels)

    model = build_with_policy(precision, build)
    compile_model(model, family, charset, 1e-3)
    picks = np.arange(batch_size * (steps + warmup)) % len(images)
    x = images[picks].astype("float32")
    y = make_targets([texts[i] for i in picks], charset, family, 4)
    timer = StepTimes()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    img_s = batch_size / statistics.median(timer.times[warmup:])
    return img_s, (model if precision == "float32" else float32_copy(model, build))


def inference_throughput(model, images, batch_sizes=(1, 256), repeats=50, serving="float32"):
    """SavedModel images/s per batch size, and batch-1 latency percentiles (ms).

    `serving` is the precision the float32 SavedModel runs in
    (`serving_precision`); the previous setting is restored afterwards.
    """
    import tensorflow as tf

    images = with_channels(images, model.input_shape[-1])
    with tempfile.TemporaryDirectory() as folder:
        export_savedmodel(model, folder)
        with serving_precision(serving):
            return _time_serving(tf.saved_model.load(folder), images, batch_sizes, repeats)


def _time_serving(loaded, images, batch_sizes, repeats):
    """`loaded.serve`'s img/s per batch size and batch-1 latencies (ms)."""
    import tensorflow as tf

    results = {}
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


def steps_at_default_redraw(pool_size, refresh):
    """Steps of an epoch that redraws `refresh` of `pool_size` captchas at the
    default recipe's redraw per training step."""
    from captcha_keras.training.config import SYNTHETIC_STEPS
    from captcha_keras.training.config import TrainConfig

    default = TrainConfig()
    per_step = default.refresh * default.cache_size / SYNTHETIC_STEPS
    return max(1, round(refresh * pool_size / per_step))


def stream_overhead(arch, batch_size=128, pool_size=4096, refresh=0.5, repeats=2, precision="float32"):
    """How much longer a training epoch takes with the pool's redraw.

    Trains `arch` on `CachedCaptchas` epochs, in turn with no redraw (from
    memory), with `refresh` of the pool redrawn between epochs by two
    processes (what training does), and redrawn by one background process
    while the epoch trains, through the same PyDataset path. An epoch has as
    many steps as make the redraw per step the default recipe's (an eighth
    of 65,536 captchas over 400 steps: 20 a step). Whole epochs are timed,
    the redraw included, not median steps.

    Returns:
        dict: median epoch seconds `memory_s`, `stream_s` (between epochs),
        `background_s`, and `overhead` (`stream_s / memory_s - 1`) and
        `background_overhead`.
    """
    from captcha_keras.data.cache import CachedCaptchas

    family = ARCHITECTURES[arch]["family"]
    channels = default_channels(arch)
    steps = steps_at_default_redraw(pool_size, refresh)
    # Drawn in chunks of 256, as training draws its pool.
    source = SyntheticCaptchas(batch_size=256, steps=1, seed=3, grayscale=channels == 1, family=None)
    model = build_with_policy(
        precision,
        lambda: build_model(arch, len(source.charset), height=source.height, width=source.width, channels=channels),
    )
    compile_model(model, family, source.charset, 1e-3)
    times = {"memory": [], "stream": [], "background": []}
    modes = [("memory", 0.0, False), ("stream", refresh, False), ("background", refresh, True)]
    for name, fraction, background in modes * repeats:
        data = CachedCaptchas(
            source, pool_size, batch_size, steps, fraction, workers=2, family=family, background=background
        )
        try:
            # Keras calls `on_epoch_end` after each epoch: it waits for the
            # epoch's redraw and submits the next. So the timed epoch starts
            # with a fresh redraw and ends when it is in, as in training.
            model.fit(data, epochs=1, verbose=0)
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0)
            times[name].append(time.perf_counter() - start)
        finally:
            data.close()
    memory, stream, behind = (statistics.median(times[k]) for k in ("memory", "stream", "background"))
    return {
        "steps": steps,
        "memory_s": memory,
        "stream_s": stream,
        "overhead": stream / memory - 1,
        "background_s": behind,
        "background_overhead": behind / memory - 1,
    }


def run(quick=True, batch_size=128):
    """Measures everything; returns the results dict."""
    charset = Charset("alnum_upper")
    steps = 8 if quick else 24
    data = SyntheticCaptchas(batch_size=batch_size, steps=4, seed=0, family=None)
    images, texts = draw_batches(data, workers=2, progress="benchmark captchas")
    results = {"machine": machine(), "quick": quick, "batch_size": batch_size, "models": {}}
    results["data_img_s"] = {"workers_1": data_throughput(1, 4), "workers_2": data_throughput(2, 8)}
    # The reference as published trains in float32; the defaults train at the
    # precision `--precision auto` picks here. When that is not float32, the
    # reference is measured at it too, so the two effects can be told apart.
    auto = resolve_precision("auto")
    results["precision"] = auto
    serving = resolve_serving_precision("auto")
    results["serving_precision"] = serving
    for family in ("ctc", "multihead"):
        ref, default = REFERENCE[family], DEFAULT[family]
        measured = [("reference", ref, "float32"), ("default", default, auto)]
        if auto != "float32":
            measured.insert(1, ("reference", ref, auto))
        for role, arch, precision in measured:
            print(f"measuring {arch} ({role}, {precision})...", flush=True)
            train_img_s, model = training_throughput(arch, images, texts, charset, batch_size, steps, precision)
            entry = {
                "family": family,
                "role": role,
                "arch": arch,
                "precision": precision,
                "parameters": int(model.count_params()),
                "train_img_s": train_img_s,
            }
            if role == "reference" and precision != "float32":
                # Inference runs the float32 SavedModel either way: measured once.
                entry.update({k: v for k, v in results["models"][ref].items() if "batch" in k or "latency" in k})
            else:
                repeats = 20 if quick else 100
                entry.update(inference_throughput(model, images, repeats=repeats))
                if serving != "float32":
                    # The same float32 SavedModel served in bfloat16 (`--precision bfloat16`).
                    faster = inference_throughput(model, images, repeats=repeats, serving=serving)
                    entry.update({f"{k}_{serving}": v for k, v in faster.items()})
            results["models"][arch if precision == "float32" or role == "default" else f"{arch} ({precision})"] = entry
        reference, fast = results["models"][ref], results["models"][default]
        fast["train_speedup"] = fast["train_img_s"] / reference["train_img_s"]
        fast["inference_speedup"] = fast["batch256_img_s"] / reference["batch256_img_s"]
        if serving != "float32":
            key = f"batch256_img_s_{serving}"
            fast[f"inference_speedup_{serving}"] = fast[key] / reference[key]
    print("measuring the data stream against memory...", flush=True)
    results["stream"] = stream_overhead(DEFAULT["ctc"], batch_size, repeats=1 if quick else 3, precision=auto)
    results["stream"]["arch"] = DEFAULT["ctc"]
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
        first = {str(t): next((m for m, a in zip(minutes, accuracy) if a >= t), None) for t in thresholds}
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
        cells = [
            f"{c['first_minute'][t]:.1f}" if c["first_minute"][t] is not None else "not reached" for t in thresholds
        ]
        best = f"{max(c['val_seq_acc']):.2%}" if c["val_seq_acc"] else "-"
        final = f"{c['final']:.2%}" if c["final"] is not None else "-"
        lines.append(f"| {run} | " + " | ".join(cells) + f" | {best} | {final} |")
    return "\n".join(lines)


def format_table(results):
    """A Markdown table of the results, for the terminal and docs/results.md."""
    lines = [
        "| model | role | training precision | params | train img/s | infer img/s (b=256) | infer img/s (b=1) "
        "| p50 latency ms | speed-up train / infer |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results["models"].items():
        if "train_speedup" in r:
            speedup = f"{r['train_speedup']:.1f}x / {r['inference_speedup']:.1f}x"
        else:
            speedup = "1x / 1x" if r.get("precision", "float32") == "float32" else "-"
        lines.append(
            f"| {r.get('arch', name)} | {r['role']} | {r.get('precision', 'float32')} | {r['parameters']:,} "
            f"| {r['train_img_s']:.0f} | {r['batch256_img_s']:.0f} "
            f"| {r['batch1_img_s']:.0f} | {r['latency_p50_ms']:.2f} | {speedup} |"
        )
    serving = results.get("serving_precision", "float32")
    if serving != "float32":
        lines += ["", f"The same SavedModels served in {serving} (`--precision {serving}`):", ""]
        lines.append(
            f"| model | role | infer img/s (b=256) | infer img/s (b=1) | p50 latency ms | "
            f"b=256 vs float32 | speed-up infer, both {serving} |"
        )
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for name, r in results["models"].items():
            if r.get("precision", "float32") != "float32" and r["role"] == "reference":
                continue  # The same SavedModel as the float32 reference's row.
            speedup = f"{r[f'inference_speedup_{serving}']:.1f}x" if "train_speedup" in r else "1x"
            lines.append(
                f"| {r.get('arch', name)} | {r['role']} | {r[f'batch256_img_s_{serving}']:.0f} "
                f"| {r[f'batch1_img_s_{serving}']:.0f} | {r[f'latency_p50_ms_{serving}']:.2f} "
                f"| {r[f'batch256_img_s_{serving}'] / r['batch256_img_s']:.2f}x | {speedup} |"
            )
    d = results["data_img_s"]
    lines.append("")
    lines.append(f"Captcha drawing: {d['workers_1']:.0f} img/s with 1 process, {d['workers_2']:.0f} img/s with 2.")
    if "stream" in results:
        st = results["stream"]
        lines.append(
            f"Data stream ({st['arch']}, epochs of {st['steps']} steps with the default redraw per step): "
            f"{st['memory_s']:.1f} s from memory, {st['stream_s']:.1f} s redrawing between epochs "
            f"({st['overhead']:+.1%}), {st['background_s']:.1f} s redrawing in the background "
            f"({st['background_overhead']:+.1%})."
        )
    return "\n".join(lines)
