"""The training callbacks, one at a time, on stand-ins for the model, the clock and the data: what each
adds to the epoch logs, when it stops a phase, what it writes."""

import json
import math
import types

import numpy as np
import pytest
from helpers import FakeClock

from captcha_keras.charset import Charset
from captcha_keras.training import callbacks
from captcha_keras.training.callbacks import AtomicModelCheckpoint
from captcha_keras.training.callbacks import ConvergenceStop
from captcha_keras.training.callbacks import CosineSchedule
from captcha_keras.training.callbacks import EpochInfo
from captcha_keras.training.callbacks import RunClock
from captcha_keras.training.callbacks import RunState
from captcha_keras.training.callbacks import SequenceEvaluation
from captcha_keras.training.callbacks import TimeBudget
from captcha_keras.training.callbacks import cosine_rate
from captcha_keras.training.callbacks import read_state
from captcha_keras.training.callbacks import stopping_patience
from captcha_keras.training.callbacks import write_state


class Model:
    """What a callback reaches through `self.model`: `stop_training`, and an optimizer's rate."""

    def __init__(self, learning_rate=None):
        self.stop_training = False
        self.optimizer = types.SimpleNamespace(learning_rate=learning_rate)


class Predicts(Model):
    """A model whose `predict` returns fixed outputs."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs
        self.batch_sizes = []

    def predict(self, images, batch_size, verbose):
        self.batch_sizes.append(batch_size)
        return self.outputs


def with_model(callback, model):
    callback.set_model(model)
    return callback


# ---------------------------------------------------------------- SequenceEvaluation


def one_hot_heads(texts, charset):
    """Multi-head outputs that read `texts`: one head per position, certain of its character."""
    heads = []
    for position in range(len(texts[0])):
        head = np.zeros((len(texts), len(charset)), "float32")
        head[np.arange(len(texts)), [charset.encode(t[position])[0] for t in texts]] = 1.0
        heads.append(head)
    return {f"c{k + 1}": head for k, head in enumerate(heads)}


def test_sequence_evaluation_adds_whole_sequence_accuracy_and_cer_to_the_logs():
    charset = Charset("digits")
    truths = ["12", "34", "56", "78"]
    model = Predicts(one_hot_heads(["12", "34", "56", "70"], charset))
    evaluation = with_model(
        SequenceEvaluation(np.zeros((4, 8, 8, 1)), truths, "multihead", charset, batch_size=3), model
    )
    logs = {"loss": 1.0}
    evaluation.on_epoch_end(0, logs)
    # Three of four read in full; one character wrong of eight.
    assert logs == {"loss": 1.0, "val_seq_acc": 0.75, "val_cer": 0.125}
    assert model.batch_sizes == [3]
    evaluation.on_epoch_end(1, None)  # Keras may pass no logs: nothing to add to, and no error


def test_sequence_evaluation_decodes_ctc_within_the_label_lengths():
    charset = Charset("ab")
    # Greedy reads "a" (three a's in a row collapse); the best path of two characters is a, blank, a.
    probs = np.array([[[0.9, 0.0, 0.1], [0.6, 0.0, 0.4], [0.9, 0.0, 0.1]]], "float32")
    images = np.zeros((1, 8, 8, 1))
    free, within = {}, {}
    with_model(SequenceEvaluation(images, ["aa"], "ctc", charset), Predicts(probs)).on_epoch_end(0, free)
    with_model(SequenceEvaluation(images, ["aa"], "ctc", charset, lengths=(2, 2)), Predicts(probs)).on_epoch_end(
        0, within
    )
    assert free == {"val_seq_acc": 0.0, "val_cer": 0.5}
    assert within == {"val_seq_acc": 1.0, "val_cer": 0.0}


# ---------------------------------------------------------------- RunClock and EpochInfo


def test_run_clock_counts_the_minutes_of_earlier_invocations(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(callbacks, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    clock = RunClock(minutes_before=2.5)
    assert clock.minutes() == 2.5
    now[0] += 30.0
    assert clock.minutes() == 3.0
    assert RunClock().minutes() == 0.0


def test_epoch_info_logs_the_optimizers_rate_the_phase_and_the_minutes():
    import keras

    clock = FakeClock()
    clock.now = 12.34567
    logs = {}
    info = EpochInfo(2, clock, data=types.SimpleNamespace(draw_seconds=45.0))
    info.set_model(types.SimpleNamespace(optimizer=keras.optimizers.Adam(learning_rate=1e-3)))
    info.on_epoch_end(0, logs)
    # The rate the optimizer holds, float32 as it is, not the 1e-3 asked for.
    assert logs == {"learning_rate": float(np.float32(1e-3)), "phase": 2, "minutes": 12.346, "draw_minutes": 0.75}
    # Data that keeps no drawing time (a PyDataset drawing afresh, a folder): no column for it.
    logs = {}
    with_model(EpochInfo(1, clock, data=object()), Model(learning_rate=0.5)).on_epoch_end(0, logs)
    assert logs == {"learning_rate": 0.5, "phase": 1, "minutes": 12.346}


# ---------------------------------------------------------------- TimeBudget


def run_epochs(budget, clock, spans):
    """Runs epochs from and to the given minutes; returns the 1-based epoch that stopped the phase, or None."""
    model = Model()
    budget.set_model(model)
    for epoch, (begin, end) in enumerate(spans):
        clock.now = begin
        budget.on_epoch_begin(epoch)
        clock.now = end
        budget.on_epoch_end(epoch, {})
        if model.stop_training:
            return epoch + 1
    return None


def test_time_budget_ends_a_phase_before_the_next_epoch_would_overrun():
    """With 0.5 of 1 minute used by a 0.3-minute epoch, a second epoch would end
    at 0.8 (inside a 1-minute budget) but a third at 1.1 would not."""
    clock = FakeClock()
    assert run_epochs(TimeBudget(clock, deadline=1.0, verbose=0), clock, [(0.2, 0.5), (0.5, 0.8), (0.8, 1.0)]) == 2


def test_time_budget_predicts_the_next_epoch_from_the_longest_so_far(capsys):
    clock = FakeClock()
    # A 4-minute first epoch (the graph traced, the pool drawn), then 1.5-minute ones: at 6.5 minutes
    # the longest says 10.5 > 10, although the last one alone would say 8.
    spans = [(0.0, 4.0), (4.0, 5.0), (5.0, 6.5), (6.5, 8.0)]
    assert run_epochs(TimeBudget(clock, deadline=10.0), clock, spans) == 3
    assert capsys.readouterr().out == (
        "\nEpoch 3: time budget: 6.5 min used, another epoch (~4.0 min) would pass 10.0 min; ending this phase.\n"
    )


@pytest.mark.parametrize("deadline", [None, 0])
def test_time_budget_without_a_deadline_never_stops(deadline):
    clock = FakeClock()
    assert run_epochs(TimeBudget(clock, deadline=deadline), clock, [(0, 100), (100, 1000)]) is None


# ---------------------------------------------------------------- cosine schedule


def test_cosine_rate_runs_from_start_to_end_and_clips():
    assert cosine_rate(1.0, 0.1, 0.0) == 1.0
    assert cosine_rate(1.0, 0.1, 1.0) == pytest.approx(0.1)
    assert cosine_rate(1.0, 0.1, 0.5) == pytest.approx(0.55)
    assert cosine_rate(1.0, 0.1, 0.25) > 0.55 > cosine_rate(1.0, 0.1, 0.75)
    assert cosine_rate(1.0, 0.1, -3.0) == 1.0 and cosine_rate(1.0, 0.1, 7.0) == pytest.approx(0.1)


def test_the_schedule_sets_the_rate_of_each_batch_from_the_phases_steps():
    """Phase 2 (from epoch 2) of 2 epochs of 4 steps: batch 2 of epoch 3 is 6 of its 8 steps in."""
    model = Model()
    schedule = with_model(CosineSchedule(1.0, 0.0, first_epoch=2, epochs=2), model)
    schedule.set_params({"steps": 4})
    schedule.on_epoch_begin(2)
    schedule.on_train_batch_begin(0)
    assert model.optimizer.learning_rate == 1.0
    schedule.on_epoch_begin(3)
    schedule.on_train_batch_begin(2)
    assert model.optimizer.learning_rate == cosine_rate(1.0, 0.0, 6 / 8)
    assert model.optimizer.learning_rate == pytest.approx(0.5 * (1 + math.cos(0.75 * math.pi)))


def test_the_schedule_follows_the_time_budget_when_it_ends_the_phase_first():
    """Phase 2 of a 60-minute run started at minute 45: at minute 52.5 half its
    time is gone, although only 1 of 100 epochs' steps has run."""
    clock = FakeClock()
    schedule = CosineSchedule(1e-4, 1e-6, first_epoch=10, epochs=100, clock=clock, start_minute=45.0, deadline=60.0)
    schedule.set_params({"steps": 50})
    schedule.on_epoch_begin(11)
    clock.now = 45.0
    assert schedule.progress(0) == pytest.approx(50 / 5000)
    clock.now = 52.5
    assert schedule.progress(0) == pytest.approx(0.5)
    # Without a time budget, only the steps count.
    untimed = CosineSchedule(1e-4, 1e-6, first_epoch=10, epochs=100, clock=clock, start_minute=45.0, deadline=None)
    untimed.set_params({"steps": 50})
    untimed.on_epoch_begin(11)
    assert untimed.progress(25) == pytest.approx(75 / 5000)


def test_a_schedule_without_steps_per_epoch_is_refused():
    schedule = CosineSchedule(1e-3, 1e-4, first_epoch=0, epochs=10)
    schedule.set_params({"steps": None})
    with pytest.raises(ValueError, match="steps per epoch"):
        schedule.progress(0)


# ---------------------------------------------------------------- AtomicModelCheckpoint


class Saves(Model):
    """A model whose `save` writes a marker, or half of one and then fails, as a killed save would."""

    def __init__(self):
        super().__init__()
        self.marker = b""
        self.fail = False

    def save(self, path, overwrite=True):
        with open(path, "wb") as f:
            f.write(self.marker[: len(self.marker) // 2] if self.fail else self.marker)
        if self.fail:
            raise RuntimeError("killed during the save")


def test_the_checkpoint_replaces_the_best_model_whole_or_not_at_all(tmp_path, capsys):
    target = tmp_path / "best.keras"
    model = Saves()
    checkpoint = with_model(
        AtomicModelCheckpoint(str(target), monitor="val_loss", save_best_only=True, verbose=1), model
    )

    def epoch(number, val_loss, fail=False):
        model.marker, model.fail = f"epoch {number}".encode(), fail
        checkpoint.on_epoch_end(number, {"val_loss": val_loss})

    epoch(0, 1.0)
    epoch(1, 2.0)  # no better: not saved
    assert target.read_bytes() == b"epoch 0"
    with pytest.raises(RuntimeError, match="killed"):
        epoch(2, 0.5, fail=True)
    # The half-written file is the temporary one; the best model is the previous one, whole.
    assert target.read_bytes() == b"epoch 0" and checkpoint.filepath == str(target)
    assert (tmp_path / "best.tmp.keras").read_bytes() == b"epo"
    epoch(3, 0.25)
    assert target.read_bytes() == b"epoch 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras"]
    out = capsys.readouterr().out
    # Announced under the target's name, never the temporary file's.
    assert out.count("saved") == 2 and "best.tmp" not in out
    assert f"Epoch 4: val_loss improved to 0.25000, saved {target}" in out


# ---------------------------------------------------------------- RunState


def test_run_state_records_progress_and_keeps_what_else_the_file_holds(tmp_path):
    path = tmp_path / "state.json"
    write_state(path, {"recipe": {"schedule": "cosine"}, "phase1": {"epochs": 6}})
    clock = FakeClock()
    clock.now = 3.5
    checkpoint = types.SimpleNamespace(best=np.float32(0.25))
    RunState(str(path), 2, checkpoint, clock).on_epoch_end(7)
    assert read_state(path) == {
        "recipe": {"schedule": "cosine"},
        "phase1": {"epochs": 6},
        "phase": 2,
        "epochs_done": 8,
        "best": 0.25,
        "minutes": 3.5,
    }
    # Nothing saved yet (or a NaN loss): JSON has no infinity, so no best.
    for best in (None, math.inf, math.nan):
        checkpoint.best = best
        RunState(str(path), 1, checkpoint).on_epoch_end(0)
        assert read_state(path)["best"] is None and read_state(path)["epochs_done"] == 1
    assert json.loads(path.read_text())["minutes"] == 3.5, "without a clock the recorded minutes stay"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"], "written through a renamed temporary file"


def test_read_state_of_a_run_without_one_is_empty(tmp_path):
    assert read_state(tmp_path / "state.json") == {}


# ---------------------------------------------------------------- stopping


@pytest.mark.parametrize("samples, patience", [(5000, 3), (2000, 3), (1000, 5), (400, 8), (40, 14), (0, 25)])
def test_patience_grows_as_the_validation_set_shrinks(samples, patience):
    assert stopping_patience(samples) == patience


def stop_epoch(history, samples=400, patience=3, start_from_epoch=0):
    """The 1-based epoch at which ConvergenceStop ends a phase, or None."""
    rule = with_model(ConvergenceStop(samples, patience, start_from_epoch=start_from_epoch, verbose=0), Model())
    for epoch, (accuracy, loss) in enumerate(history):
        rule.on_epoch_end(epoch, {"val_seq_acc": accuracy, "val_loss": loss})
        if rule.model.stop_training:
            return epoch + 1
    return None


@pytest.mark.parametrize(
    "history, expected",
    [
        # Perfect twice in a row ends the phase, whatever the loss still does.
        ([(0.9, 1.0), (0.99, 0.5), (1.0, 0.2), (1.0, 0.1), (1.0, 0.05)], 4),
        # One perfect epoch between noisy ones does not.
        ([(0.9, 1.0), (1.0, 0.5), (0.995, 0.45), (1.0, 0.44), (0.9975, 0.44), (0.995, 0.44)], None),
        # A plateau (within noise, loss flat) ends after the patience.
        ([(0.95, 0.3)] + [(0.95 + 0.005 * (i % 2), 0.3) for i in range(6)], 4),
        # Accuracy still climbing beyond the noise: no stop, although the loss is flat.
        ([(0.80 + 0.03 * i, 0.3) for i in range(7)], None),
        # A model that reads nothing yet (all blanks) is never stopped for it.
        ([(0.0, 5.0)] * 10, None),
    ],
)
def test_convergence_stop_decisions(history, expected):
    assert stop_epoch(history) == expected


def test_a_falling_validation_loss_is_progress_while_the_accuracy_stands_still():
    falling = [(0.5, 1.0 * 0.9**i) for i in range(8)]
    assert stop_epoch(falling) is None
    # Falling by less than min_delta (2%) a step is not.
    assert stop_epoch([(0.5, 1.0 * 0.99**i) for i in range(8)]) == 4


def test_a_perfect_read_of_a_small_validation_set_is_not_enough_to_stop():
    perfect = [(1.0, 0.1)] * 6
    assert stop_epoch(perfect, samples=40, patience=stopping_patience(40)) is None
    assert stop_epoch(perfect, samples=300) == 2


def test_convergence_stop_waits_for_start_from_epoch():
    perfect = [(1.0, 0.1)] * 6
    assert stop_epoch(perfect) == 2
    assert stop_epoch(perfect, start_from_epoch=5) == 5


def test_convergence_stop_says_why_it_stopped(capsys):
    rule = with_model(ConvergenceStop(400, patience=2), Model())
    for epoch in range(3):
        rule.on_epoch_end(epoch, {"val_seq_acc": 0.5, "val_loss": 1.0})
    assert rule.model.stop_training
    assert rule.reason == "no progress for 2 epochs (smoothed sequence error 50.00%, best 50.00% on 400 images)"
    assert capsys.readouterr().out == f"\nEpoch 3: stopping: {rule.reason}.\n"
