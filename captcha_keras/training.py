"""The two-phase training recipe of the reference design, with resume.

Phase 1 trains with Adam until EarlyStopping; phase 2 reloads the best
checkpoint, with the Adam moments saved beside its weights, and goes on at a
tenth of the learning rate. Both phases log to
the same CSV and TensorBoard folder and checkpoint the best weights.
"""

import csv
import dataclasses
import datetime
import json
import math
import os
import shutil

import keras

from captcha_keras.callbacks import AtomicModelCheckpoint
from captcha_keras.callbacks import CosineSchedule
from captcha_keras.callbacks import EpochInfo
from captcha_keras.callbacks import RunClock
from captcha_keras.callbacks import RunState
from captcha_keras.callbacks import SequenceEvaluation
from captcha_keras.callbacks import TimeBudget
from captcha_keras.callbacks import read_state
from captcha_keras.callbacks import write_state
from captcha_keras.charset import DEFAULT_CHARSET
from captcha_keras.charset import Charset
from captcha_keras.charset import parse_length
from captcha_keras.data.augment import Augmentation
from captcha_keras.data.cache import CachedCaptchas
from captcha_keras.data.folder_stream import FolderCaptchas
from captcha_keras.data.labels import characters_outside
from captcha_keras.data.labels import labels_charset
from captcha_keras.data.splits import load_splits
from captcha_keras.data.splits import write_heldout
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import character_weights
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.data.synthetic import resolve_emphasis
from captcha_keras.data.targets import make_targets
from captcha_keras.finetune import BEST
from captcha_keras.finetune import load_source
from captcha_keras.finetune import output_layer_names
from captcha_keras.finetune import transfer_weights
from captcha_keras.losses import CTCLoss
from captcha_keras.models import build_model
from captcha_keras.models import default_channels
from captcha_keras.models import resolve_architecture
from captcha_keras.precision import PRECISIONS
from captcha_keras.precision import float32_copy
from captcha_keras.precision import resolve_precision
from captcha_keras.precision import set_precision
from captcha_keras.run_config import RunConfig

STATE = "state.json"
FINE_TUNE_FACTOR = 0.1
# Where the cosine schedule ends phase 2, relative to where phase 2 starts.
FINAL_FACTOR = 0.01
SCHEDULES = ("cosine", "constant")
# Share of `max_minutes` phase 1 may use; the rest is phase 2's.
PHASE1_SHARE = 0.75
# Batches per epoch on synthetic data: epochs short enough for EarlyStopping
# and checkpoints to act every couple of minutes on a CPU.
SYNTHETIC_STEPS = 400


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; the scripts' flags carry the same names.

    Args:
        family: str. `"ctc"` or `"multihead"`.
        arch: str. Registry name, or `"default"` / `"reference"`.
        charset: str or None. Preset name or literal characters; None takes
            the `--init-from` run's, else the labels' of `data`, else
            `DEFAULT_CHARSET`.
        width, height: int. Image size (with `init_from`, the source's).
        length: str or None. Label length, `"4"` or a range `"4-6"`; None
            takes the lengths found in `data`, else 4.
        grayscale: bool. One input channel; `None` takes the architecture's
            default (grayscale for the fast defaults, RGB for the reference).
        batch_size, steps, val_steps: int. Batch size, batches per epoch
            (None: `SYNTHETIC_STEPS`, or one pass over `data`), validation
            batches (drawn once, fixed for the whole run).
        epochs, fine_tune_epochs: int. Epoch limits of phases 1 and 2.
        patience: int. EarlyStopping patience (epochs).
        min_epochs: int. Epochs of phase 1 before EarlyStopping starts
            watching: a CTC model from scratch spends its first epochs
            emitting blanks, with a validation loss that rises before it falls.
        lr: float. Phase-1 learning rate; phase 2 starts at a tenth of it.
        schedule: str. `"cosine"` anneals each phase along a cosine (phase 1
            from `lr` to `lr / 10`, phase 2 from `lr / 10` to `lr / 1000`) over
            its epochs or its share of `max_minutes`, whichever ends it first;
            `"constant"` keeps `lr` and `lr / 10`, as the reference does.
        workers: int. Processes drawing captchas.
        cache_size: int. Train from a pool of this many drawn captchas,
            partly redrawn each epoch (`CachedCaptchas`); 0 draws every
            training batch afresh, as the reference does.
        refresh: float. Fraction of the pool redrawn per epoch.
        emphasize: str. Characters the synthetic training stream draws
            `emphasis` times as often (validation and test stay uniform):
            `"auto"` picks the pairs the package's font draws alike (0 and O)
            when the charset has them, `"none"` (or `""`) nothing.
        emphasis: float. How much more often. Defaults to 3.0.
        max_minutes: float. Wall-clock budget of the whole run, data drawing
            included; phase 1 ends by `PHASE1_SHARE` of it so that phase 2
            has time. 0 for no limit.
        seed: int. Seed of the training, validation and test streams.
        run_name: str. Folder name under `output_dir` and `logs_dir`.
        resume: bool. Continue an interrupted run of the same name.
        eval_samples: int. Fresh test captchas scored into `metrics.json`
            (synthetic runs; folder runs score their held-out images).
        data: str or None. Folder of labelled real captchas to train on.
        val_data: str or None. Validation folder.
        val_split: float or None. Share of `data` held out for validation.
        test_data: str or None. Folder scored into `metrics.json` at the end.
        synthetic_ratio: float. Share of each batch drawn synthetic when
            training on `data`.
        augment: bool. Augment folder images (small shifts, rotation, scale,
            blur, noise).
        keep_aspect: bool. Pad folder images to the input's aspect ratio
            instead of stretching them.
        strict: bool. Bad files in a folder are an error instead of skipped.
        init_from: str or None. Run folder whose weights start this run.
        precision: str. `"auto"` (mixed float16 on a GPU, mixed bfloat16 on a CPU
            with AMX bfloat16 units, float32 on other CPUs)
            or a Keras dtype policy name. The saved models are float32
            whatever trained them.
    """

    family: str = "ctc"
    arch: str = "default"
    charset: str = None
    width: int = 128
    height: int = 64
    length: str = None
    grayscale: bool = None
    batch_size: int = 128
    steps: int = None
    val_steps: int = 40
    epochs: int = 100
    fine_tune_epochs: int = 100
    patience: int = 3
    min_epochs: int = 5
    lr: float = 1e-3
    schedule: str = "cosine"
    workers: int = 2
    cache_size: int = 65536
    refresh: float = 0.125
    emphasize: str = "auto"
    emphasis: float = 3.0
    max_minutes: float = 60.0
    seed: int = 0
    run_name: str = None
    resume: bool = False
    overwrite: bool = False
    output_dir: str = "saved_models"
    logs_dir: str = "logs"
    eval_samples: int = 10000
    verbose: int = 1
    data: str = None
    val_data: str = None
    val_split: float = None
    test_data: str = None
    synthetic_ratio: float = 0.0
    augment: bool = True
    keep_aspect: bool = False
    strict: bool = False
    init_from: str = None
    precision: str = "auto"

    def __post_init__(self):
        self.arch = resolve_architecture(self.arch, self.family)
        if self.grayscale is None:
            self.grayscale = default_channels(self.arch) == 1
        if self.data is None and (self.val_data or self.val_split or self.test_data or self.synthetic_ratio):
            raise ValueError("--val-data, --val-split, --test-data and --synthetic-ratio go with --data DIR.")
        if self.val_data and self.val_split:
            raise ValueError("Give --val-data or --val-split, not both.")
        if not 0.0 <= self.synthetic_ratio < 1.0 or round(self.batch_size * self.synthetic_ratio) >= self.batch_size:
            raise ValueError(
                f"--synthetic-ratio must leave room for real images in a batch of {self.batch_size}: "
                f"a share in [0, 1). Received: {self.synthetic_ratio}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"Unknown precision. Expected one of {PRECISIONS}. Received: precision={self.precision!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule. Expected one of {SCHEDULES}. Received: schedule={self.schedule!r}")
        if self.resume and self.run_name is None:
            raise ValueError("--resume needs the --run-name of the run to continue.")
        if self.steps is None and self.data is None:
            self.steps = SYNTHETIC_STEPS
        if self.charset is not None:
            self.charset = Charset(self.charset).characters
        if self.length is not None:
            self.min_length, self.max_length = parse_length(self.length)
        if self.run_name is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            self.run_name = f"{self.family}_{stamp}"

    @property
    def run_dir(self):
        return os.path.join(self.output_dir, self.run_name)

    @property
    def log_dir(self):
        return os.path.join(self.logs_dir, self.run_name)

    def run_config(self):
        return RunConfig(
            arch=self.arch,
            family=self.family,
            charset=self.charset,
            width=self.width,
            height=self.height,
            min_length=self.min_length,
            max_length=self.max_length,
            channels=1 if self.grayscale else 3,
            keep_aspect=self.keep_aspect,
        )


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


def refuse_existing_run(config):
    """Raises if the run folder exists and neither --resume nor --overwrite was given."""
    if os.path.exists(config.run_dir) and not (config.resume or config.overwrite):
        raise FileExistsError(
            f"{config.run_dir} already exists. Pass --resume to continue it, --overwrite to "
            "start it again, or another --run-name."
        )


def prepare_run_dirs(config):
    """Creates the run and log folders, refusing to overwrite a run by accident."""
    run_dir, log_dir = config.run_dir, config.log_dir
    refuse_existing_run(config)
    if os.path.exists(run_dir) and not config.resume:
        shutil.rmtree(run_dir)
        shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(run_dir, exist_ok=True)
    os.makedirs(log_dir, exist_ok=True)


def resolve_inputs(config):
    """Settles what the flags left open, in place: the `--init-from` source's
    architecture and input, the folder data, the charset and label lengths.

    Returns:
        `(splits, source_model, source_config)`, each None when unused.
    """
    source_model = source = None
    if config.init_from:
        source_model, source = load_source(config.init_from)
        if source.family != config.family:
            raise ValueError(f"--init-from {config.init_from} is a {source.family} run; this trains {config.family}.")
        config.arch, config.width, config.height = source.arch, source.width, source.height
        config.grayscale = source.channels == 1
        config.keep_aspect = config.keep_aspect or source.keep_aspect
        print(
            f"Starting from {config.init_from}: {source.arch}, {source.width}x{source.height}, "
            f"{source.channels} channel(s), charset {source.charset!r}."
        )
    splits = None
    if config.data:
        splits = load_splits(
            config.data,
            config.val_data,
            config.val_split,
            config.test_data,
            config.width,
            config.height,
            1 if config.grayscale else 3,
            config.keep_aspect,
            config.charset,
            config.strict,
            config.seed,
        )
        print(splits.describe())
    if config.charset is None:
        needed = labels_charset(splits.texts) if splits else ""
        if source is not None and not characters_outside(needed, source.charset):
            config.charset = source.charset
        elif splits is not None:
            if source is not None:
                print(
                    f"The labels use {characters_outside(needed, source.charset)!r}, outside the charset of "
                    f"{config.init_from}: the output layer is rebuilt for the charset {needed!r}."
                )
            config.charset = needed
        else:
            config.charset = Charset(DEFAULT_CHARSET).characters
    if config.length is None:
        if splits is not None:
            lengths = [len(t) for t in splits.texts]
            config.length = f"{min(lengths)}-{max(lengths)}" if min(lengths) != max(lengths) else str(max(lengths))
        else:
            config.length = source.length if source is not None else "4"
        config.min_length, config.max_length = parse_length(config.length)
    config.emphasize = resolve_emphasis(config.emphasize, config.charset)
    character_weights(config.charset, config.emphasize, config.emphasis)  # refuses bad ones now, not after --overwrite
    return splits, source_model, source


def initialise_from(model, source_model, source, charset):
    """Copies the source run's weights; the output layer starts afresh when the charset differs."""
    reset = output_layer_names(model) if source.charset != charset.characters else ()
    copied, rebuilt = transfer_weights(source_model, model, reset)
    print(f"--init-from: copied the weights of {len(copied)} layers; freshly initialised: {', '.join(rebuilt) or 'none'}.")


def synthetic_settings(config, charset):
    """`SyntheticCaptchas` arguments that draw captchas as this run reads them."""
    return dict(
        charset=charset,
        width=config.width,
        height=config.height,
        length=(config.min_length, config.max_length),
        grayscale=config.grayscale,
        seed=config.seed,
        batch_size=config.batch_size,
    )


def training_source(config, charset, **kwargs):
    """The synthetic training stream: `config.emphasize`d characters (as
    `resolve_inputs` settled them) drawn more often."""
    settings = dict(synthetic_settings(config, charset), **kwargs)
    if config.emphasize and config.emphasis != 1.0:
        print(f"Training captchas draw {config.emphasize} {config.emphasis:g}x as often as the other characters "
              "(--emphasize none for uniform labels; scores are always on uniform labels).")
    return SyntheticCaptchas(emphasize=config.emphasize, emphasis=config.emphasis, **settings)


def redraw_in_background():
    """Whether the pool is redrawn while epochs train: on a GPU, whose CPU is
    otherwise idle; not on a CPU that trains on every core, where drawing
    beside the trainer slows it far more than drawing between epochs does
    (`CachedCaptchas`)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def make_data(config, charset, splits=None):
    """The training stream and the fixed validation arrays of a run."""
    if splits is not None:
        return make_folder_data(config, charset, splits)
    common = synthetic_settings(config, charset)
    if config.cache_size:
        source = training_source(config, charset, steps=1, family=None, batch_size=256)
        train = CachedCaptchas(
            source,
            pool_size=config.cache_size,
            batch_size=config.batch_size,
            steps=config.steps,
            refresh=config.refresh,
            workers=config.workers,
            family=config.family,
            background=redraw_in_background(),
        )
    else:
        train = training_source(
            config,
            charset,
            steps=config.steps,
            family=config.family,
            workers=config.workers,
            use_multiprocessing=config.workers > 1,
        )
    validation = SyntheticCaptchas(steps=config.val_steps, stream="validation", family=None, **common)
    images, texts = draw_batches(validation, workers=config.workers, progress="validation captchas")
    return train, images, texts


def make_folder_data(config, charset, splits):
    """Batches of the training folder (augmented, optionally mixed with a
    synthetic pool) and the validation folder's arrays."""
    synthetic = None
    if config.synthetic_ratio:
        source = training_source(config, charset, steps=1, family=None, batch_size=256)
        synthetic = CachedCaptchas(
            source,
            pool_size=config.cache_size or 8192,
            refresh=config.refresh,
            workers=config.workers,
            family=config.family,
            background=redraw_in_background(),
        )
    train = FolderCaptchas(
        splits.train,
        charset,
        config.family,
        config.max_length,
        batch_size=config.batch_size,
        steps=config.steps,
        augmentation=Augmentation() if config.augment else None,
        synthetic=synthetic,
        synthetic_ratio=config.synthetic_ratio,
        seed=config.seed,
    )
    return train, splits.validation.images, splits.validation.texts


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


def check_recipe(recorded, recipe):
    """Refuses to resume a run under another schedule or precision than it
    started with: the learning rates would jump, and Adam's saved state does
    not load into an optimizer of another precision.

    Args:
        recorded: dict or None. The `recipe` of the run's `state.json`.
        recipe: dict. This invocation's `schedule` and resolved `precision`.
    """
    if not recorded:
        return
    changed = {key: value for key, value in recipe.items() if recorded.get(key, value) != value}
    if changed:
        started = " ".join(f"--{key} {recorded[key]}" for key in changed)
        now = ", ".join(f"{key} {value}" for key, value in changed.items())
        raise ValueError(f"This run started with {started} and cannot resume with {now}. Resume with {started}.")


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


def phase_callbacks(config, phase, validation, charset, best_so_far, clock, verbose, schedule=None, data=None):
    """The callbacks of one phase; order matters, since later ones read the logs
    that earlier ones add (sequence accuracy, learning rate)."""
    images, texts = validation
    checkpoint = AtomicModelCheckpoint(
        os.path.join(config.run_dir, BEST),
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
            os.path.join(config.run_dir, "backup", f"phase{phase}"), double_checkpoint=True
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=config.patience,
            start_from_epoch=config.min_epochs if phase == 1 else 0,
            verbose=verbose,
        ),
        TimeBudget(clock, phase_deadline(config, phase), verbose=verbose),
        keras.callbacks.CSVLogger(os.path.join(config.log_dir, "training.csv"), append=True),
        checkpoint,
        keras.callbacks.TensorBoard(os.path.join(config.log_dir, "tensorboard")),
        RunState(os.path.join(config.run_dir, STATE), phase, checkpoint, clock),
    ]
    return callbacks if schedule is None else [schedule, *callbacks]


def run_phase(
    model,
    config,
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
):
    """Fits one phase; returns `(epochs finished, best val_loss)`.

    Phase 1 starts at `config.lr`; phase 2 recompiles Adam at
    `config.lr * FINE_TUNE_FACTOR`, as the reference does. Here and in
    `phase_schedule` is where the learning rate is set.

    Args:
        start_from: str or None. A checkpoint to start from, loaded with its
            optimizer state (see `load_with_optimizer_state`).
    """
    learning_rate = config.lr if phase == 1 else config.lr * FINE_TUNE_FACTOR
    compile_model(model, config.family, charset, learning_rate)
    if start_from is not None:
        load_with_optimizer_state(model, start_from, learning_rate)
    backup_dir = os.path.join(config.run_dir, "backup", f"phase{phase}")
    trim_csv(os.path.join(config.log_dir, "training.csv"), backup_epoch(backup_dir, start_epoch))
    schedule = phase_schedule(config, phase, start_epoch, epochs, clock, start_minute)
    callbacks = phase_callbacks(
        config, phase, validation, charset, best_so_far, clock, config.verbose, schedule, data=train
    )
    images, texts = validation
    history = model.fit(
        train,
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


def train(config):
    """Trains a run end to end and writes its folder; returns the run folder.

    Args:
        config: `TrainConfig`.
    """
    from captcha_keras.reports import finish_run

    # Every input is read and checked before --overwrite deletes anything.
    refuse_existing_run(config)
    splits, source_model, source = resolve_inputs(config)
    prepare_run_dirs(config)
    charset = Charset(config.charset)
    run_config = config.run_config()
    run_config.save(config.run_dir)
    if splits is not None:
        write_heldout(config.run_dir, splits)
    state_path = os.path.join(config.run_dir, STATE)
    state = read_state(state_path) if config.resume else {}
    if config.resume and not state:
        print(f"Nothing to resume in {config.run_dir}: starting from the beginning.")
    clock = RunClock(state.get("minutes", 0.0))

    def build():
        return build_model(
            config.arch,
            len(charset),
            height=config.height,
            width=config.width,
            channels=run_config.channels,
            min_length=config.min_length,
            max_length=config.max_length,
        )

    policy = resolve_precision(config.precision)
    check_recipe(state.get("recipe"), {"schedule": config.schedule, "precision": policy})
    write_state(state_path, dict(read_state(state_path), recipe={"schedule": config.schedule, "precision": policy}))
    print(f"Precision: {policy}.")
    previous_policy = keras.mixed_precision.global_policy()
    set_precision(policy)
    try:
        train_phases(config, build(), charset, splits, source_model, source, state, state_path, clock)
    finally:
        set_precision(previous_policy)
    # BackupAndRestore empties its folders when a phase ends; the run is done with them.
    shutil.rmtree(os.path.join(config.run_dir, "backup"), ignore_errors=True)

    best_model = save_float32(os.path.join(config.run_dir, BEST), build)
    heldout = None
    if splits is not None:
        heldout = splits.test or splits.validation
    finish_run(
        best_model, run_config, config.run_dir, config.log_dir, config.seed, config.eval_samples, heldout=heldout
    )
    return config.run_dir


def train_phases(config, model, charset, splits, source_model, source, state, state_path, clock):
    """Phase 1, then phase 2 from phase 1's best weights; skips what `state`
    says is done (a resume)."""
    if source_model is not None:
        initialise_from(model, source_model, source, charset)
    train_data, images, texts = make_data(config, charset, splits)
    try:
        run_phases(config, model, charset, train_data, (images, texts), state, state_path, clock)
    finally:
        # Stops the processes that draw the synthetic pool.
        if hasattr(train_data, "close"):
            train_data.close()


def run_phases(config, model, charset, train_data, validation, state, state_path, clock):
    """The two phases on `train_data`, recording each in `state_path`."""
    phase1 = state.get("phase1")
    if phase1 is None:
        done, best = run_phase(
            model, config, 1, train_data, validation, charset, 0, config.epochs, state.get("best"), clock
        )
        phase1 = {"epochs": done, "best": _finite(best), "minutes": round(clock.minutes(), 3)}
        state = dict(read_state(state_path), phase1=phase1)
        write_state(state_path, state)

    if config.fine_tune_epochs > 0 and "phase2" not in state:
        # Phase 2 starts from the best weights of phase 1, not the last ones.
        if not os.path.isfile(os.path.join(config.run_dir, BEST)):
            raise ValueError(
                "Phase 1 saved no checkpoint: the validation loss never improved (was it NaN or "
                "infinite? CTC needs more time steps than label characters). See the training CSV."
            )
        best_so_far = state.get("best") if state.get("phase") == 2 else phase1["best"]
        done, best = run_phase(
            model,
            config,
            2,
            train_data,
            validation,
            charset,
            phase1["epochs"],
            config.fine_tune_epochs,
            best_so_far,
            clock,
            phase1.get("minutes", clock.minutes()),
            start_from=os.path.join(config.run_dir, BEST),
        )
        state = dict(read_state(state_path), phase2={"epochs": done, "best": _finite(best)})
        write_state(state_path, state)


def save_float32(path, build):
    """Rewrites a finished run's checkpoint as float32 and without its
    optimizer state (a third of the size; `--init-from` compiles a fresh
    optimizer anyway). Returns the float32 model.

    Args:
        path: str. The checkpoint.
        build: callable returning the run's architecture.
    """
    model = float32_copy(keras.models.load_model(path, compile=False), build)
    root, extension = os.path.splitext(path)
    temporary = f"{root}.tmp{extension}"
    model.save(temporary)
    os.replace(temporary, path)
    return model


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)
