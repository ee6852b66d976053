"""Time-to-accuracy figures read back from a run's training.csv."""

import json
import os

from throughput import format_time_to_accuracy
from throughput import time_to_accuracy

from captcha_keras.plots import plot_time_to_accuracy


def test_time_to_accuracy_finds_the_first_epoch_past_each_threshold(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "training.csv").write_text(
        "epoch,minutes,phase,val_seq_acc\n0,2.5,1,0.80\n1,5.0,1,0.96\n2,7.5,1,0.94\n3,10.0,2,0.992\n"
    )
    (run / "metrics.json").write_text(json.dumps({"sequence_accuracy": 0.9905}))
    curves = time_to_accuracy([str(run)], thresholds=(0.9, 0.95, 0.99, 0.995))
    first = curves["run"]["first_minute"]
    assert first == {"0.9": 5.0, "0.95": 5.0, "0.99": 10.0, "0.995": None}
    assert curves["run"]["final"] == 0.9905
    table = format_time_to_accuracy(curves)
    assert "| run | 5.0 | 5.0 | 10.0 | not reached | 99.20% | 99.05% |" in table
    png = tmp_path / "curves.png"
    plot_time_to_accuracy({"run": (curves["run"]["minutes"], curves["run"]["val_seq_acc"])}, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class ScriptedClock:
    """A `time` stand-in whose batches last the given seconds: begin and end of each, in turn."""

    def __init__(self, durations):
        self.durations = list(durations)
        self.calls = 0
        self.now = 0.0

    def perf_counter(self):
        if self.calls % 2:
            self.now += self.durations[self.calls // 2]
        self.calls += 1
        return self.now


def test_training_throughput_measures_at_the_given_precision_and_returns_a_float32_model(monkeypatch):
    import keras
    import numpy as np
    import throughput
    from throughput import training_throughput

    from captcha_keras.charset import Charset

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 64, 3)).astype("uint8")
    texts = ["".join(rng.choice(list("0123456789"), 4)) for _ in range(8)]
    # The warm-up batch is the slowest by far, and the timed ones are not in order: the figure is
    # the batch size over the median of the timed batches alone, 4 / 0.5.
    clock = ScriptedClock([8.0, 2.0, 0.25, 0.5])
    monkeypatch.setattr(throughput, "time", clock)
    img_s, model = training_throughput(
        "crnn_ctc_fast", images, texts, Charset("digits"), batch_size=4, steps=3, precision="mixed_bfloat16", warmup=1
    )
    assert clock.calls == 2 * (1 + 3), "each of the warm-up and timed batches is timed once"
    assert img_s == 8.0
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"


def test_the_stream_benchmark_redraws_as_much_per_step_as_training():
    from throughput import steps_at_default_redraw

    from captcha_keras.training import SYNTHETIC_STEPS
    from captcha_keras.training import TrainConfig

    default = TrainConfig()
    # Training redraws refresh * cache_size captchas over SYNTHETIC_STEPS steps.
    assert steps_at_default_redraw(default.cache_size, default.refresh) == SYNTHETIC_STEPS
    per_step = default.refresh * default.cache_size / SYNTHETIC_STEPS
    steps = steps_at_default_redraw(4096, 0.5)
    assert abs(2048 / steps - per_step) / per_step < 0.02


def test_inference_is_timed_in_the_precision_asked_and_float32_is_restored():
    import numpy as np
    import tensorflow as tf
    from throughput import inference_throughput

    from captcha_keras.models import build_model

    model = build_model("crnn_ctc_fast", 10, height=32, width=64, channels=1)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 64, 1)).astype("uint8")
    timed = inference_throughput(model, images, batch_sizes=(1, 4), repeats=3, serving="bfloat16")
    assert set(timed) == {"batch1_img_s", "batch4_img_s", "latency_p50_ms", "latency_p90_ms"}
    assert timed["latency_p50_ms"] <= timed["latency_p90_ms"]
    assert tf.config.optimizer.get_experimental_options().get("auto_mixed_precision_onednn_bfloat16") is False


def test_the_hard_panel_sets_are_labelled_folders_drawn_the_same_each_time(tmp_path):
    import numpy as np
    from hard_sets import write_set
    from PIL import Image

    from captcha_keras.data.folder import scan_folder

    for name, size, characters in (
        ("dark", (320, 64), "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"),
        ("faint", (200, 48), "0123456789"),
    ):
        write_set(name, tmp_path / name / "a", 6, "train", batch_size=4)
        write_set(name, tmp_path / name / "b", 6, "train", batch_size=4)
        write_set(name, tmp_path / name / "test", 3, "test", batch_size=4)
        scan = scan_folder(str(tmp_path / name / "a"))
        assert len(scan.labels) == 6 and all(6 <= len(t) <= 8 and set(t) <= set(characters) for t in scan.labels)
        first = sorted(os.listdir(tmp_path / name / "a"))
        assert first == sorted(os.listdir(tmp_path / name / "b"))
        pixels = [np.asarray(Image.open(tmp_path / name / "a" / f)) for f in first]
        assert all(p.shape == (size[1], size[0], 3) for p in pixels)
        np.testing.assert_array_equal(pixels[0], np.asarray(Image.open(tmp_path / name / "b" / first[0])))
        assert not set(first) & set(os.listdir(tmp_path / name / "test")), "another stream, other captchas"
    # dark: light strokes on a dark background; faint: squeezed into a narrow band of grey levels.
    dark = np.asarray(Image.open(next((tmp_path / "dark" / "a").iterdir())))
    faint = np.asarray(Image.open(next((tmp_path / "faint" / "a").iterdir()))).astype(float)
    assert np.median(dark) < 60 and np.percentile(faint, 99) - np.percentile(faint, 1) < 90
