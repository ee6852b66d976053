import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from captcha_keras.training import FINE_TUNE_FACTOR
from captcha_keras.training import TrainConfig
from captcha_keras.training import trim_csv
from conftest import ROOT
from conftest import TINY_TRAINING
from conftest import read_json


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("fixture", ["ctc_run", "cnn_run"])
def test_phase_two_runs_at_a_tenth_of_the_learning_rate(fixture, request):
    run_dir, log_dir = request.getfixturevalue(fixture)
    rows = read_rows(log_dir / "training.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(float(r["phase"])) for r in rows] == [1, 1, 2]
    # The optimizer runs in float32: compare with the float32 of the exact value.
    assert [float(r["learning_rate"]) for r in rows] == [
        float(np.float32(1e-3)), float(np.float32(1e-3)), float(np.float32(1e-3 * FINE_TUNE_FACTOR))
    ]
    for r in rows:
        assert 0.0 <= float(r["val_seq_acc"]) <= 1.0 and float(r["val_cer"]) >= 0.0
    state = read_json(run_dir / "state.json")
    assert state["phase1"]["epochs"] == 2 and state["phase2"]["epochs"] == 3


def test_phase_two_compiles_with_the_exact_learning_rate(tmp_path, monkeypatch):
    """The optimizer of phase 2 holds exactly lr * 0.1 (not a schedule, not a callback)."""
    from captcha_keras import training

    seen = []
    original = training.compile_model

    def spy(model, family, charset, learning_rate):
        model = original(model, family, charset, learning_rate)
        seen.append(float(model.optimizer.learning_rate.numpy()))
        return model

    monkeypatch.setattr(training, "compile_model", spy)
    config = TrainConfig(
        family="ctc", charset="digits", width=64, height=32, batch_size=4, steps=1, val_steps=1,
        epochs=1, fine_tune_epochs=1, lr=0.02, workers=1, eval_samples=4, verbose=0, cache_size=0,
        run_name="lr", output_dir=str(tmp_path / "m"), logs_dir=str(tmp_path / "l"),
    )
    training.train(config)
    assert seen == [float(np.float32(0.02)), float(np.float32(0.002))]


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


def test_a_killed_run_resumes_from_its_last_finished_epoch(tmp_path):
    """Kill a real training process mid-run, then rerun it with --resume."""
    out, logs = tmp_path / "models", tmp_path / "logs"
    args = [
        sys.executable, os.path.join(ROOT, "scripts", "train_ctc.py"), *TINY_TRAINING,
        "--epochs", "6", "--fine-tune-epochs", "2", "--patience", "100",
        "--run-name", "killed", "--output-dir", str(out), "--logs-dir", str(logs),
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

    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # It went on from where the backup left off, not from epoch 1.
    assert "Epoch 1/6" not in resumed.stdout
    assert f"Epoch {done_before + 1}/6" in resumed.stdout or f"Epoch {done_before}/6" in resumed.stdout
    rows = read_rows(logs / "killed" / "training.csv")
    # Phase 2 starts after phase 1's last epoch, even after a resume inside phase 1.
    assert [int(r["epoch"]) for r in rows] == list(range(8))
    assert [int(float(r["phase"])) for r in rows] == [1] * 6 + [2] * 2
    assert read_json(state_path)["phase1"]["epochs"] == 6
    assert (out / "killed" / "metrics.json").is_file()


def test_time_budget_ends_a_phase_before_the_next_epoch_would_overrun():
    """With 0.5 of 1 minute used by a 0.3-minute epoch, a second epoch would end
    at 0.8 (inside a 1-minute budget) but a third at 1.1 would not."""
    from captcha_keras.callbacks import TimeBudget

    class FakeClock:
        now = 0.0

        def minutes(self):
            return self.now

    class Holder:
        stop_training = False

    clock, model = FakeClock(), Holder()
    budget = TimeBudget(clock, deadline=1.0, verbose=0)
    budget.set_model(model)
    for epoch, (begin, end) in enumerate([(0.2, 0.5), (0.5, 0.8)]):
        clock.now = begin
        budget.on_epoch_begin(epoch)
        clock.now = end
        budget.on_epoch_end(epoch, {})
        assert model.stop_training is (epoch == 1)


def test_architecture_sets_the_default_channels():
    assert TrainConfig(arch="default", family="ctc").grayscale is True
    assert TrainConfig(arch="reference", family="ctc").grayscale is False
    assert TrainConfig(arch="reference", family="ctc", grayscale=True).grayscale is True
