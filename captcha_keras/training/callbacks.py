"""Training callbacks: sequence accuracy, learning-rate logging, safe checkpoints,
a wall-clock budget."""

import json
import math
import os
import time

import keras
import numpy as np

from captcha_keras import evaluation
from captcha_keras.inference.decoding import decode_outputs
from captcha_keras.inference.readings import read_outputs


class SequenceEvaluation(keras.callbacks.Callback):
    """Scores whole sequences on a fixed validation set after every epoch.

    Like the reference's `Evaluate` callback: a prediction counts only when
    every character is right and the length matches. Adds `val_seq_acc` and
    `val_cer` to the epoch logs, so callbacks after it (CSVLogger,
    TensorBoard, EarlyStopping) see them; with `image_dir` it also writes a
    TensorBoard image of sample predictions.

    Args:
        images: uint8 array `(n, height, width, channels)`.
        texts: list of str. The labels of `images`.
        family: str. `"ctc"` or `"multihead"`.
        charset: `Charset`.
        lengths: `(min_length, max_length)` or None. CTC texts outside this
            range are decoded again within it, as `decode_ctc` does.
        batch_size: int. Prediction batch size. Defaults to 256.
        image_dir: str or None. TensorBoard folder for the prediction images.
        image_count: int. Images in the TensorBoard grid. Defaults to 16.
    """

    def __init__(self, images, texts, family, charset, lengths=None, batch_size=256, image_dir=None, image_count=16):
        super().__init__()
        self.lengths = lengths
        self.images = images
        self.texts = list(texts)
        self.family = family
        self.charset = charset
        self.batch_size = batch_size
        self.image_dir = image_dir
        self.image_count = image_count
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model.predict(self.images, batch_size=self.batch_size, verbose=0)
        decoded = decode_outputs(outputs, self.family, self.charset, lengths=self.lengths)
        predictions = [text for text, _ in decoded]
        scores = evaluation.score(self.texts, predictions)
        if logs is not None:
            logs["val_seq_acc"] = scores["sequence_accuracy"]
            logs["val_cer"] = scores["cer"]
        if self.image_dir:
            # The grid's confidences are the Reader's (the text's probability), as everywhere else.
            n = self.image_count
            if isinstance(outputs, dict):
                head = {k: v[:n] for k, v in outputs.items()}
            elif isinstance(outputs, (list, tuple)):  # multi-head outputs as a list of heads
                head = [v[:n] for v in outputs]
            else:
                head = outputs[:n]
            readings = read_outputs(head, self.family, self.charset, lengths=self.lengths)
            self._write_image(epoch, predictions, [r.confidence for r in readings])

    def _write_image(self, epoch, predictions, confidences):
        import tensorflow as tf

        from captcha_keras.plots import figure_to_png
        from captcha_keras.plots import prediction_figure

        n = self.image_count
        fig = prediction_figure(
            self.images[:n], self.texts[:n], predictions[:n], confidences[:n], title=f"epoch {epoch + 1}"
        )
        png = figure_to_png(fig)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.image_dir)
        with self._writer.as_default():
            tf.summary.image("sample_predictions", tf.image.decode_png(png)[None], step=epoch)
        self._writer.flush()


class RunClock:
    """Wall-clock minutes of a run, counted across interruptions.

    Args:
        minutes_before: float. Minutes spent by earlier, interrupted
            invocations of the same run (from `state.json`).
    """

    def __init__(self, minutes_before=0.0):
        self.start = time.monotonic() - 60.0 * minutes_before

    def minutes(self):
        return (time.monotonic() - self.start) / 60.0


class EpochInfo(keras.callbacks.Callback):
    """Adds the learning rate, the phase and the run's wall-clock minutes
    (data drawing included) to the epoch logs, so the CSV holds a
    time-to-accuracy curve.

    It reads the rate, it never sets it: `CosineSchedule` and the phase setup
    (`training.run_phase`) do.

    Args:
        phase: int. 1 or 2.
        clock: `RunClock`.
        data: the training dataset. When it keeps a `draw_seconds` count
            (`CachedCaptchas`), the logs get `draw_minutes`: the minutes the
            trainer waited for captchas to be drawn, in this invocation.
    """

    def __init__(self, phase, clock, data=None):
        super().__init__()
        self.phase = phase
        self.clock = clock
        self.data = data

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
            logs["phase"] = self.phase
            logs["minutes"] = round(self.clock.minutes(), 3)
            draw_seconds = getattr(self.data, "draw_seconds", None)
            if draw_seconds is not None:
                logs["draw_minutes"] = round(draw_seconds / 60.0, 4)


class TimeBudget(keras.callbacks.Callback):
    """Stops a phase before an epoch would end past `deadline` minutes of the run.

    It predicts the next epoch from the longest one so far, so a phase ends
    on the last epoch that fits instead of overrunning the budget.

    Args:
        clock: `RunClock`.
        deadline: float. Minutes of the run after which no epoch may end;
            `None` or 0 for no limit.
    """

    def __init__(self, clock, deadline, verbose=1):
        super().__init__()
        self.clock = clock
        self.deadline = deadline
        self.verbose = verbose
        self._epoch_start = None
        self._longest = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.clock.minutes()

    def on_epoch_end(self, epoch, logs=None):
        if not self.deadline:
            return
        now = self.clock.minutes()
        self._longest = max(self._longest, now - self._epoch_start)
        if now + self._longest > self.deadline:
            self.model.stop_training = True
            if self.verbose:
                print(
                    f"\nEpoch {epoch + 1}: time budget: {now:.1f} min used, another epoch "
                    f"(~{self._longest:.1f} min) would pass {self.deadline:.1f} min; ending this phase."
                )


def cosine_rate(start, end, progress):
    """The learning rate `progress` (0 to 1, clipped) of the way along a cosine
    from `start` to `end`."""
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


class CosineSchedule(keras.callbacks.Callback):
    """Anneals the learning rate of one phase along a cosine, every batch.

    A constant rate leaves the weights bouncing around a minimum until the next
    phase lowers it (the reference recipe's jump at phase 2); annealing within
    the phase takes those gains as training goes. Progress is the larger of the
    share of the phase's steps done and the share of its time budget used, so
    the rate reaches `end` whichever limit ends the phase.

    Args:
        start: float. Rate at the phase's first step.
        end: float. Rate at its last.
        first_epoch: int. The phase's first epoch (epochs count across phases).
        epochs: int. The phase's epoch limit.
        clock: `RunClock` or None.
        start_minute: float. Run minute at which the phase started.
        deadline: float or None. Run minute by which the phase must end.
    """

    def __init__(self, start, end, first_epoch, epochs, clock=None, start_minute=0.0, deadline=None):
        super().__init__()
        self.start = start
        self.end = end
        self.first_epoch = first_epoch
        self.epochs = epochs
        self.clock = clock
        self.start_minute = start_minute
        self.deadline = deadline
        self._epoch = first_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def progress(self, batch):
        steps = self.params.get("steps")
        if not steps:
            raise ValueError("The cosine schedule needs training data with a known number of steps per epoch.")
        done = ((self._epoch - self.first_epoch) * steps + batch) / (self.epochs * steps)
        if self.clock is not None and self.deadline and self.deadline > self.start_minute:
            used = (self.clock.minutes() - self.start_minute) / (self.deadline - self.start_minute)
            done = max(done, used)
        return done

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = cosine_rate(self.start, self.end, self.progress(batch))


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """A `ModelCheckpoint` that never leaves a half-written file.

    It saves to a temporary file beside the target and renames it into place;
    a rename is atomic, so a kill during the save keeps the previous best.
    Only for a fixed `filepath` (no `{epoch}` placeholders).
    """

    def __init__(self, filepath, verbose=0, **kwargs):
        # The parent's message would name the temporary file; this one names the target.
        super().__init__(filepath, verbose=0, **kwargs)
        self.announce = verbose

    def _save_model(self, epoch, batch, logs):
        target = self.filepath
        root, extension = os.path.splitext(target)
        temporary = f"{root}.tmp{extension}"
        self.filepath = temporary
        try:
            super()._save_model(epoch, batch, logs)
        finally:
            self.filepath = target
        if os.path.exists(temporary):
            os.replace(temporary, target)
            if self.announce:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved to {self.best:.5f}, saved {target}")


class RunState(keras.callbacks.Callback):
    """Records progress in `state.json` after each epoch, for `--resume`.

    Holds the phase, the number of finished epochs and the best monitored
    value so far, written atomically.
    """

    def __init__(self, path, phase, checkpoint, clock=None):
        super().__init__()
        self.path = path
        self.phase = phase
        self.checkpoint = checkpoint
        self.clock = clock

    def on_epoch_end(self, epoch, logs=None):
        state = read_state(self.path)
        best = self.checkpoint.best
        state.update(
            phase=self.phase,
            epochs_done=epoch + 1,
            best=None if best is None or not np.isfinite(best) else float(best),
        )
        if self.clock is not None:
            state["minutes"] = self.clock.minutes()
        write_state(self.path, state)


def read_state(path):
    """Reads `state.json`, or an empty dict when there is none."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_state(path, state):
    """Writes `state.json` atomically."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(state, f, indent=2)
    os.replace(temporary, path)


def stopping_patience(samples, base=3):
    """Epochs without progress a phase waits, longer for a smaller validation set.

    An epoch's sequence error on `samples` images moves by chance about
    `sqrt(p (1 - p) / samples)`; with 400 images one noisy epoch looks like a
    plateau. `base` at 2,000 images or more, plus two epochs each time the
    set halves: 400 images wait 8 epochs, 40 wait 14.
    """
    return base + max(0, round(2 * math.log2(2000 / max(samples, 1))))


class ConvergenceStop(keras.callbacks.Callback):
    """Ends a phase when validation no longer pays, and not before.

    Replaces EarlyStopping on one noisy validation loss for folder runs
    (docs/real-captchas.md#stopping), which stopped an easy set 12 minutes
    after its validation accuracy reached 100% and a noisy one while its
    accuracy still climbed. Each epoch:
    - progress is a smoothed sequence error (an average of the last epochs,
      weight `smoothing` on the past) that beats the best by more than one
      standard error of `samples` images, or a validation loss
      `min_delta` (relative) below its best;
    - the phase ends after `patience` epochs without progress, or once the
      validation set has been read perfectly for `perfect_epochs` epochs in
      a row, when it holds at least `perfect_samples` images (none wrong
      of 300 bounds the error rate near 1%; 40 perfect images, a 200-image
      set's fifth, said little: a run stopped on them at 1.6 minutes);
      an epoch that reads no captcha at all (a CTC model still emitting
      blanks) never counts towards either;
    - nothing ends before `start_from_epoch`.

    Reads `val_seq_acc` (`SequenceEvaluation` must come first) and `val_loss`.
    """

    def __init__(
        self,
        samples,
        patience,
        start_from_epoch=0,
        perfect_epochs=2,
        perfect_samples=300,
        smoothing=0.5,
        min_delta=0.02,
        verbose=1,
    ):
        super().__init__()
        self.samples = samples
        self.perfect_samples = perfect_samples
        self.patience = patience
        self.start_from_epoch = start_from_epoch
        self.perfect_epochs = perfect_epochs
        self.smoothing = smoothing
        self.min_delta = min_delta
        self.verbose = verbose
        self.smoothed = None
        self.best_error = math.inf
        self.best_loss = math.inf
        self.wait = 0
        self.perfect = 0
        self.reason = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        error = 1.0 - logs["val_seq_acc"]
        loss = logs.get("val_loss", math.inf)
        self.smoothed = (
            error if self.smoothed is None else self.smoothing * self.smoothed + (1 - self.smoothing) * error
        )
        noise = math.sqrt(max(self.smoothed, 1.0 / self.samples) * (1.0 - min(self.smoothed, 0.999)) / self.samples)
        improved = self.smoothed < self.best_error - noise or loss < self.best_loss * (1.0 - self.min_delta)
        self.best_error = min(self.best_error, self.smoothed)
        self.best_loss = min(self.best_loss, loss)
        self.perfect = self.perfect + 1 if error == 0.0 else 0
        if improved or error == 1.0:
            self.wait = 0
        else:
            self.wait += 1
        if epoch + 1 < self.start_from_epoch:
            return
        if self.perfect >= self.perfect_epochs and self.samples >= self.perfect_samples:
            self.reason = f"validation read perfectly for {self.perfect} epochs"
        elif self.wait >= self.patience:
            self.reason = (
                f"no progress for {self.wait} epochs (smoothed sequence error {self.smoothed:.2%}, "
                f"best {self.best_error:.2%} on {self.samples} images)"
            )
        if self.reason:
            self.model.stop_training = True
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: stopping: {self.reason}.")
