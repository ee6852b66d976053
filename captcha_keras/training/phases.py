"""The two phases of the reference recipe: compile, callbacks, fit.

Phase 1 trains with Adam until EarlyStopping; phase 2 reloads the best
checkpoint, with the Adam moments saved beside its weights, and goes on at a
tenth of the learning rate. Both phases log to the same CSV and TensorBoard
folder and checkpoint the best weights. This module and the phase schedule
are the only places that set the learning rate.
"""

import csv
import json
import math
import os

import keras

from captcha_keras.data.targets import make_targets
from captcha_keras.models.losses import CTCLoss
from captcha_keras.runs import BACKUP_DIR
from captcha_keras.runs import BEST_MODEL_FILE
from captcha_keras.runs import HISTORY_CSV
from captcha_keras.runs import STATE_FILE
from captcha_keras.training.callbacks import AtomicModelCheckpoint
from captcha_keras.training.callbacks import ConvergenceStop
from captcha_keras.training.callbacks import CosineSchedule
from captcha_keras.training.callbacks import EpochInfo
from captcha_keras.training.callbacks import RunState
from captcha_keras.training.callbacks import SequenceEvaluation
from captcha_keras.training.callbacks import TimeBudget
from captcha_keras.training.callbacks import read_state
from captcha_keras.training.callbacks import stopping_patience
from captcha_keras.training.callbacks import write_state
from captcha_keras.training.config import FINAL_FACTOR
from captcha_keras.training.config import FINE_TUNE_FACTOR
from captcha_keras.training.config import PHASE1_SHARE
from captcha_keras.training.distribute import SyncedClock
from captcha_keras.training.distribute import clock_sync_callback


def compile_model(model, family, charset, learning_rate):
    """Compiles with the reference optimizer, Adam with AMSGrad, and the family's loss."""
    if family == "ctc":
        loss = CTCLoss(blank_index=charset.blank_index)
    else:
        loss = {head: "sparse_categorical_crossentropy" for head in model.output_names}
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, amsgrad=True), loss=loss)
    return model


def load_with_optimizer_state(model, path, learning_rate):
    """Loads a checkpoint's weights and the Adam moments saved with them into a
    freshly compiled model, then sets the learning rate back to `learning_rate`.

    A fresh Adam's first steps move every weight by about the learning rate
    (its moment estimates start from one gradient): when phase 2 began that
    way, the shipped CTC run's training loss rose from 0.060 to 0.084 and took
    six epochs to come back, while its validation loss held (0.0614, 0.0613),
    so what the kick undid was fit to the pool. Keras skips the optimizer part
    of a checkpoint unless the optimizer is built, so it is built first.
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    model.optimizer.learning_rate = learning_rate


def trim_csv(path, first_epoch):
    """Drops CSV rows of epochs at or after `first_epoch` (they will be run again)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = [r for r in body if r and int(r[0]) < first_epoch]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header] + kept)


def backup_epoch(backup_dir, default):
    """The epoch BackupAndRestore will resume from, or `default` without a backup."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.isfile(path):
        return default
    with open(path) as f:
        return json.load(f)["epoch"]


def phase_deadline(config, phase):
    """Run minute by which a phase must end; None without a time budget."""
    if not config.max_minutes:
        return None
    return config.max_minutes * (PHASE1_SHARE if phase == 1 else 1.0)


def phase_schedule(config, phase, first_epoch, epochs, clock, start_minute):
    """The phase's `CosineSchedule`, or None for the constant schedule."""
    if config.schedule != "cosine":
        return None
    start = config.lr if phase == 1 else config.lr * FINE_TUNE_FACTOR
    end = start * (FINE_TUNE_FACTOR if phase == 1 else FINAL_FACTOR)
    return CosineSchedule(start, end, first_epoch, epochs, clock, start_minute, phase_deadline(config, phase))


def stopping_callback(config, phase, samples, verbose):
    """How a phase ends early: `ConvergenceStop` for folder runs (`--stopping auto`, `converged`),
    the reference's EarlyStopping on the validation loss for synthetic ones (`loss`)."""
    start = config.min_epochs if phase == 1 else 0
    rule = config.stopping if config.stopping != "auto" else ("converged" if config.data else "loss")
    if rule == "loss":
        return keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, start_from_epoch=start, verbose=verbose
        )
    return ConvergenceStop(
        samples, stopping_patience(samples, config.patience), start_from_epoch=start, verbose=verbose
    )


def phase_callbacks(config, phase, *, validation, charset, best_so_far, clock, verbose, schedule=None, data=None):
    """The callbacks of one phase; order matters, since later ones read the logs
    that earlier ones add (sequence accuracy, learning rate)."""
    images, texts = validation
    checkpoint = AtomicModelCheckpoint(
        os.path.join(config.run_dir, BEST_MODEL_FILE),
        monitor="val_loss",
        save_best_only=True,
        initial_value_threshold=best_so_far,
        verbose=verbose,
    )
    callbacks = [
        SequenceEvaluation(
            images,
            texts,
            config.family,
            charset,
            lengths=(config.min_length, config.max_length),
            image_dir=os.path.join(config.log_dir, "tensorboard", "predictions"),
        ),
        EpochInfo(phase, clock, data),
        keras.callbacks.BackupAndRestore(
            os.path.join(config.run_dir, BACKUP_DIR, f"phase{phase}"), double_checkpoint=True
        ),
        stopping_callback(config, phase, len(texts), verbose),
        TimeBudget(clock, phase_deadline(config, phase), verbose=verbose),
        keras.callbacks.CSVLogger(os.path.join(config.log_dir, HISTORY_CSV), append=True),
        checkpoint,
        keras.callbacks.TensorBoard(os.path.join(config.log_dir, "tensorboard")),
        RunState(os.path.join(config.run_dir, STATE_FILE), phase, checkpoint, clock),
    ]
    if isinstance(clock, SyncedClock):
        # First, so that the others read the value every worker agreed on.
        callbacks.insert(0, clock_sync_callback(clock))
        return callbacks if schedule is None else [callbacks[0], schedule, *callbacks[1:]]
    return callbacks if schedule is None else [schedule, *callbacks]


def run_phase(
    model,
    config,
    *,
    phase,
    train,
    validation,
    charset,
    start_epoch,
    epochs,
    best_so_far,
    clock,
    start_minute=0.0,
    start_from=None,
    distributed=None,
):
    """Fits one phase; returns `(epochs finished, best val_loss)`.

    Phase 1 starts at `config.lr`; phase 2 recompiles Adam at
    `config.lr * FINE_TUNE_FACTOR`, as the reference does. Here and in
    `phase_schedule` is where the learning rate is set.

    Args:
        model: `keras.Model`. The model to fit, compiled here.
        config: `TrainConfig`. The run's settings.
        phase: int. 1 or 2.
        train: the training stream (a `keras.utils.PyDataset`).
        validation: `(images, texts)`. The fixed validation set.
        charset: `Charset`. The alphabet.
        start_epoch: int. The first epoch of the phase (later on a resume).
        epochs: int. Epochs of the whole phase.
        best_so_far: float or None. The best validation loss before this
            phase: a checkpoint is written only below it.
        clock: `RunClock`. Minutes of the run so far.
        start_minute: float. Run minute at which the phase began. Defaults to 0.
        start_from: str or None. A checkpoint to start from, loaded with its
            optimizer state (see `load_with_optimizer_state`).
        distributed: `(input, steps)` of `distribute.distributed_batches`:
            a distributed input of `train` to fit on instead, with its
            steps per epoch (it calls `train.on_epoch_end` itself).
    """
    learning_rate = config.lr if phase == 1 else config.lr * FINE_TUNE_FACTOR
    compile_model(model, config.family, charset, learning_rate)
    if start_from is not None:
        load_with_optimizer_state(model, start_from, learning_rate)
    backup_dir = os.path.join(config.run_dir, BACKUP_DIR, f"phase{phase}")
    trim_csv(os.path.join(config.log_dir, HISTORY_CSV), backup_epoch(backup_dir, start_epoch))
    schedule = phase_schedule(config, phase, start_epoch, epochs, clock, start_minute)
    callbacks = phase_callbacks(
        config,
        phase,
        validation=validation,
        charset=charset,
        best_so_far=best_so_far,
        clock=clock,
        verbose=config.verbose,
        schedule=schedule,
        data=train,
    )
    images, texts = validation
    data, steps = (train, None) if distributed is None else distributed
    history = model.fit(
        data,
        steps_per_epoch=steps,
        shuffle=distributed is None,  # a distributed input comes in its seeded order
        initial_epoch=start_epoch,
        epochs=start_epoch + epochs,
        validation_data=(images, make_targets(texts, charset, config.family, config.max_length)),
        validation_batch_size=256,
        callbacks=callbacks,
        verbose=config.verbose,
    )
    # BackupAndRestore sets this on a resume and Keras never clears it; the
    # next phase's fit would start from it instead of its own initial_epoch.
    model._initial_epoch = None
    checkpoint = next(c for c in callbacks if isinstance(c, AtomicModelCheckpoint))
    finished = history.epoch[-1] + 1 if history.epoch else start_epoch
    return finished, checkpoint.best


def run_phases(config, model, *, charset, train_data, validation, state, state_path, clock, distributed=None):
    """The two phases on `train_data` (or its `distributed` input), recording each in `state_path`."""
    phase1 = state.get("phase1")
    if phase1 is None:
        done, best = run_phase(
            model,
            config,
            phase=1,
            train=train_data,
            validation=validation,
            charset=charset,
            start_epoch=0,
            epochs=config.epochs,
            best_so_far=state.get("best"),
            clock=clock,
            distributed=distributed,
        )
        phase1 = {"epochs": done, "best": _finite(best), "minutes": round(clock.minutes(), 3)}
        state = dict(read_state(state_path), phase1=phase1)
        write_state(state_path, state)

    if config.fine_tune_epochs > 0 and "phase2" not in state:
        # Phase 2 starts from the best weights of phase 1, not the last ones.
        if not os.path.isfile(os.path.join(config.run_dir, BEST_MODEL_FILE)):
            raise ValueError(
                "Phase 1 saved no checkpoint: the validation loss never improved (was it NaN or "
                "infinite? CTC needs more time steps than label characters). See the training CSV."
            )
        best_so_far = state.get("best") if state.get("phase") == 2 else phase1["best"]
        done, best = run_phase(
            model,
            config,
            phase=2,
            train=train_data,
            validation=validation,
            charset=charset,
            start_epoch=phase1["epochs"],
            epochs=config.fine_tune_epochs,
            best_so_far=best_so_far,
            clock=clock,
            start_minute=phase1.get("minutes", clock.minutes()),
            start_from=os.path.join(config.run_dir, BEST_MODEL_FILE),
            distributed=distributed,
        )
        state = dict(read_state(state_path), phase2={"epochs": done, "best": _finite(best)})
        write_state(state_path, state)


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)
