import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import ROOT
from helpers import TINY_TRAINING
from helpers import FakeClock
from helpers import read_json

from captcha_keras.charset import Charset
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.precision import resolve_precision
from captcha_keras.training import FINAL_FACTOR
from captcha_keras.training import FINE_TUNE_FACTOR
from captcha_keras.training import TrainConfig
from captcha_keras.training import make_data
from captcha_keras.training import trim_csv
from captcha_keras.training.callbacks import cosine_rate


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def scheduled_rate(start, end, epoch_in_phase, epochs, steps):
    """The float32 learning rate the CSV holds at the end of an epoch under the
    cosine schedule: the rate set for that epoch's last batch."""
    progress = (epoch_in_phase * steps + steps - 1) / (epochs * steps)
    return float(np.float32(cosine_rate(start, end, progress)))


def validation_texts(run_dir, seed):
    """The labels of a tiny run's validation captchas: its 2 validation batches of 16, drawn again."""
    config = read_json(run_dir / "config.json")
    stream = SyntheticCaptchas(
        config["charset"],
        config["width"],
        config["height"],
        (config["min_length"], config["max_length"]),
        batch_size=16,
        steps=2,
        seed=seed,
        stream="validation",
        family=None,
    )
    return [text for index in range(2) for text in stream.plan_batch(index)[0]]


@pytest.mark.train  # the tiny run is picked by name, out of sight of the marker in conftest.py
@pytest.mark.parametrize("fixture", ["ctc_run", "cnn_run"])
def test_the_learning_rate_anneals_from_lr_to_a_tenth_then_below(fixture, request):
    """Tiny runs: 2 phase-1 epochs and 1 phase-2 epoch of 4 steps, lr 1e-3."""
    run_dir, log_dir = request.getfixturevalue(fixture)
    rows = read_rows(log_dir / "training.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(float(r["phase"])) for r in rows] == [1, 1, 2]
    assert [float(r["learning_rate"]) for r in rows] == [
        scheduled_rate(1e-3, 1e-4, 0, 2, 4),
        scheduled_rate(1e-3, 1e-4, 1, 2, 4),
        scheduled_rate(1e-4, 1e-4 * FINAL_FACTOR, 0, 1, 4),
    ]
    assert set(rows[0]) >= {"epoch", "loss", "val_loss", "val_seq_acc", "val_cer", "learning_rate", "phase", "minutes"}
    # Each epoch's scores are counts over the 32 validation captchas: a whole number read right, a whole
    # number of edits over their characters, and at least one edit in each captcha read wrong.
    texts = validation_texts(run_dir, read_json(run_dir / "metrics.json")["seed"])
    characters = sum(map(len, texts))
    for r in rows:
        right, edits = float(r["val_seq_acc"]) * len(texts), float(r["val_cer"]) * characters
        assert right == round(right) and edits == pytest.approx(round(edits), abs=1e-6), r
        assert round(edits) >= len(texts) - round(right) and (round(edits) == 0) == (round(right) == len(texts)), r
    state = read_json(run_dir / "state.json")
    assert state["phase1"]["epochs"] == 2 and state["phase2"]["epochs"] == 3
    if fixture == "cnn_run":
        # Trained from a refreshed pool: the drawing time is logged, it only
        # grows, and it is part of the run's wall clock.
        draws = [float(r["draw_minutes"]) for r in rows]
        assert 0 < draws[0] <= draws[1] <= draws[2] <= float(rows[-1]["minutes"])
    else:
        # Drawn afresh by PyDataset workers: no pool, no column.
        assert "draw_minutes" not in rows[0]


@pytest.mark.train
def test_constant_schedule_runs_phase_two_at_exactly_a_tenth(tmp_path, monkeypatch):
    """The reference recipe: the optimizer of phase 2 holds exactly lr * 0.1, and
    the CSV shows lr then lr * 0.1."""
    from captcha_keras import training
    from captcha_keras.training import phases

    seen = []
    original = phases.compile_model

    def spy(model, family, charset, learning_rate):
        model = original(model, family, charset, learning_rate)
        seen.append(float(model.optimizer.learning_rate.numpy()))
        return model

    monkeypatch.setattr(phases, "compile_model", spy)
    config = TrainConfig(
        family="ctc",
        charset="digits",
        width=64,
        height=32,
        batch_size=4,
        steps=2,
        val_steps=1,
        epochs=1,
        fine_tune_epochs=1,
        lr=0.02,
        workers=1,
        eval_samples=4,
        verbose=0,
        cache_size=0,
        schedule="constant",
        precision="mixed_bfloat16",
        run_name="lr",
        output_dir=str(tmp_path / "m"),
        logs_dir=str(tmp_path / "l"),
    )
    training.train(config)
    exact = [float(np.float32(0.02)), float(np.float32(0.02 * FINE_TUNE_FACTOR))]
    assert seen == exact
    assert [float(r["learning_rate"]) for r in read_rows(tmp_path / "l" / "lr" / "training.csv")] == exact
    # Mixed precision trained it, but it leaves no trace: the process is back to
    # float32 and the saved model is float32 throughout.
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"
    saved = keras.models.load_model(tmp_path / "m" / "lr" / "best.keras", compile=False)
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}


@pytest.mark.train
def test_phase_two_starts_from_the_best_checkpoint_with_its_adam_moments(tmp_path, monkeypatch):
    """A fresh Adam's first steps would kick the best weights out of their
    minimum; phase 2 loads the moments saved with them and only resets the rate."""
    import keras

    from captcha_keras import training
    from captcha_keras.training import phases

    seen = {}
    original = phases.load_with_optimizer_state

    def spy(model, path, learning_rate):
        original(model, path, learning_rate)
        saved = keras.models.load_model(path)
        seen["iterations"] = int(model.optimizer.iterations.numpy())
        seen["saved_iterations"] = int(saved.optimizer.iterations.numpy())
        seen["rate"] = float(model.optimizer.learning_rate.numpy())
        moments = [v for v in model.optimizer.variables if "momentum" in v.path or "velocity" in v.path]
        saved_moments = [v for v in saved.optimizer.variables if "momentum" in v.path or "velocity" in v.path]
        seen["moments"] = len(moments)
        seen["equal"] = len(moments) == len(saved_moments) and all(
            np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(moments, saved_moments)
        )
        seen["nonzero"] = sum(bool(np.any(np.asarray(v))) for v in moments)

    monkeypatch.setattr(phases, "load_with_optimizer_state", spy)
    config = TrainConfig(
        family="ctc",
        charset="digits",
        width=64,
        height=32,
        batch_size=4,
        steps=3,
        val_steps=1,
        epochs=1,
        fine_tune_epochs=1,
        lr=0.02,
        workers=1,
        eval_samples=4,
        verbose=0,
        cache_size=0,
        schedule="constant",
        run_name="moments",
        output_dir=str(tmp_path / "m"),
        logs_dir=str(tmp_path / "l"),
    )
    training.train(config)
    # Phase 1 ran 3 steps; phase 2 goes on from them instead of from step 0.
    assert seen["iterations"] == seen["saved_iterations"] == 3
    assert seen["rate"] == float(np.float32(0.02 * FINE_TUNE_FACTOR))
    assert seen["moments"] > 0 and seen["equal"] and seen["nonzero"] > 0


def test_phase_two_anneals_from_a_tenth_over_what_is_left_of_the_budget():
    """Phase 1 of a 60-minute run ended at minute 30: phase 2 has the 30
    minutes left, from lr/10 to lr/1000."""
    from captcha_keras.training import phase_schedule

    clock = FakeClock()
    config = TrainConfig(lr=1e-3, max_minutes=60)
    schedule = phase_schedule(config, 2, first_epoch=12, epochs=100, clock=clock, start_minute=30.0)
    assert (schedule.start, schedule.end) == pytest.approx((1e-4, 1e-6))
    schedule.set_params({"steps": 50})
    schedule.on_epoch_begin(12)
    clock.now = 45.0
    assert schedule.progress(0) == pytest.approx(0.5)
    assert phase_schedule(TrainConfig(schedule="constant"), 2, 12, 100, clock, 30.0) is None


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="Unknown schedule"):
        TrainConfig(schedule="linear")


def test_trim_csv_drops_epochs_that_will_run_again(tmp_path):
    path = tmp_path / "training.csv"
    path.write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.5\n")
    trim_csv(path, 2)
    assert path.read_text().splitlines() == ["epoch,loss", "0,3.0", "1,2.0"]


def test_an_existing_run_is_not_overwritten_by_accident(ctc_run):
    run_dir, log_dir = ctc_run
    with pytest.raises(FileExistsError, match="--resume"):
        from captcha_keras.training import prepare_run_dirs

        prepare_run_dirs(TrainConfig(run_name=run_dir.name, output_dir=str(run_dir.parent)))
    assert (run_dir / "best.keras").is_file()


@pytest.mark.train
def test_a_killed_run_resumes_from_its_last_finished_epoch(tmp_path):
    """Kill a real training process mid-run, then rerun it with --resume."""
    out, logs = tmp_path / "models", tmp_path / "logs"
    args = [
        sys.executable,
        os.path.join(ROOT, "scripts", "train_ctc.py"),
        *TINY_TRAINING,
        "--epochs",
        "6",
        "--fine-tune-epochs",
        "2",
        "--patience",
        "100",
        "--run-name",
        "killed",
        "--output-dir",
        str(out),
        "--logs-dir",
        str(logs),
    ]
    state_path = out / "killed" / "state.json"
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if state_path.is_file() and read_json(state_path).get("epochs_done", 0) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = read_json(state_path)["epochs_done"]
    assert 2 <= done_before < 6
    assert not (out / "killed" / "metrics.json").exists()

    # The run records its recipe and refuses to resume under another one.
    auto = resolve_precision("auto")
    assert read_json(state_path)["recipe"] == {
        "schedule": "cosine",
        "precision": auto,
        "style": "captcha",
        "init_from": "none",
    }
    refused = subprocess.run(args + ["--resume", "--schedule", "constant"], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2
    assert "started with --schedule cosine" in refused.stderr
    other = "mixed_bfloat16" if auto == "float32" else "float32"
    refused = subprocess.run(args + ["--resume", "--precision", other], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2
    assert f"started with --precision {auto}" in refused.stderr
    assert read_json(state_path)["epochs_done"] == done_before

    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # It went on from where the backup left off, not from epoch 1.
    assert "Epoch 1/6" not in resumed.stdout
    assert f"Epoch {done_before + 1}/6" in resumed.stdout or f"Epoch {done_before}/6" in resumed.stdout
    rows = read_rows(logs / "killed" / "training.csv")
    # Phase 2 starts after phase 1's last epoch, even after a resume inside phase 1.
    assert [int(r["epoch"]) for r in rows] == list(range(8))
    assert [int(float(r["phase"])) for r in rows] == [1] * 6 + [2] * 2
    # The cosine schedule picks up where it was: every epoch has the rate of an
    # uninterrupted run.
    assert [float(r["learning_rate"]) for r in rows] == [scheduled_rate(1e-3, 1e-4, e, 6, 4) for e in range(6)] + [
        scheduled_rate(1e-4, 1e-4 * FINAL_FACTOR, e, 2, 4) for e in range(2)
    ]
    assert read_json(state_path)["phase1"]["epochs"] == 6
    assert (out / "killed" / "metrics.json").is_file()
    assert not (out / "killed" / "backup").exists()


def test_architecture_sets_the_default_channels():
    assert TrainConfig(arch="default", family="ctc").grayscale is True
    assert TrainConfig(arch="reference", family="ctc").grayscale is False
    assert TrainConfig(arch="reference", family="ctc", grayscale=True).grayscale is True


def test_emphasis_shapes_the_training_stream_only(tmp_path):
    config = TrainConfig(
        charset="digits",
        length="4",
        grayscale=True,
        batch_size=64,
        steps=2,
        val_steps=2,
        cache_size=256,
        workers=1,
        emphasize="7",
        emphasis=3.0,
        output_dir=str(tmp_path),
    )
    train, _, validation_texts = make_data(config, Charset("digits"))
    try:
        pool = "".join(train.texts)
        validation = "".join(validation_texts)
        # 1,024 pool characters: '7' expected 256 times (3/12), uniform 102.
        assert pool.count("7") > 180
        # 512 validation characters stay uniform: '7' expected 51 times.
        assert validation.count("7") < 90
    finally:
        train.close()
