"""A training run end to end: settle the inputs, run both phases, write the run folder."""

import contextlib
import dataclasses
import hashlib
import os
import shutil

import keras

from captcha_keras.charset import Charset
from captcha_keras.data.splits import write_heldout
from captcha_keras.models import build_model
from captcha_keras.precision import resolve_precision
from captcha_keras.precision import set_precision
from captcha_keras.runs import BACKUP_DIR
from captcha_keras.runs import BEST_MODEL_FILE
from captcha_keras.runs import STATE_FILE
from captcha_keras.training.callbacks import RunClock
from captcha_keras.training.callbacks import read_state
from captcha_keras.training.callbacks import write_state
from captcha_keras.training.distribute import SyncedClock
from captcha_keras.training.distribute import agree_to_start
from captcha_keras.training.distribute import distributed_batches
from captcha_keras.training.distribute import make_strategy
from captcha_keras.training.distribute import replicas
from captcha_keras.training.distribute import shadow_dirs
from captcha_keras.training.distribute import strategy_name
from captcha_keras.training.distribute import strategy_role
from captcha_keras.training.distribute import synchronize_batch_norms
from captcha_keras.training.inputs import initialise_from
from captcha_keras.training.inputs import resolve_inputs
from captcha_keras.training.phases import run_phases
from captcha_keras.training.run_folder import check_recipe
from captcha_keras.training.run_folder import prepare_run_dirs
from captcha_keras.training.run_folder import refuse_existing_run
from captcha_keras.training.run_folder import save_float32
from captcha_keras.training.streams import make_data


def train(config):
    """Trains a run end to end and writes its folder; returns the run folder.

    Args:
        config: `TrainConfig`.
    """
    from captcha_keras.training.reports import finish_run

    if config.unlabelled:
        from captcha_keras.training.pseudo import train_with_unlabelled

        return train_with_unlabelled(config, train)
    # First: logical devices and the multi-worker runtime exist only if set
    # up before TensorFlow places anything.
    strategy = make_strategy(config.distribute, config.cpu_replicas)
    _, workers, chief = strategy_role(strategy)
    multiworker = workers > 1
    if not chief:
        # Same steps as the chief, in folders of its own (`distribute.shadow_dirs`).
        output_dir, logs_dir = shadow_dirs(config.run_name)
        config = dataclasses.replace(config, output_dir=output_dir, logs_dir=logs_dir, overwrite=not config.resume)
    if strategy is not None:
        n = replicas(strategy)
        print(
            f"Distributed ({strategy_name(strategy)}): {n} replicas on {workers} worker(s), global batch "
            f"{config.batch_size} x {n} = {config.batch_size * n}; learning rate {config.lr:g}, not scaled."
            + ("" if chief else f" Not the chief: writing to {config.run_dir}.")
        )
    try:
        splits, source_model, source, state = _prepare_run(config)
        failure = None
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        if not multiworker:
            raise
        splits = source_model = source = None
        state, failure = {}, error
    if multiworker:
        # Before the first collective of training: a worker that failed, or
        # one that would resume from another epoch, stops them all instead of
        # leaving the others waiting on it forever.
        agree_to_start(strategy, failure, state)
    charset = Charset(config.charset)
    run_config = config.run_config()
    state_path = os.path.join(config.run_dir, STATE_FILE)
    clock = SyncedClock(strategy, state.get("minutes", 0.0)) if multiworker else RunClock(state.get("minutes", 0.0))

    def build():
        return build_model(
            config.arch,
            len(charset),
            height=config.height,
            width=config.width,
            channels=run_config.channels,
            min_length=config.min_length,
            max_length=config.max_length,
            normalize=config.normalize,
        )

    policy = resolve_precision(config.precision)
    print(f"Precision: {policy}.")
    previous_policy = keras.mixed_precision.global_policy()
    set_precision(policy)
    try:
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            model = build() if strategy is None else synchronize_batch_norms(build())
            validation = train_phases(
                config,
                model,
                charset=charset,
                splits=splits,
                source_model=source_model,
                source=source,
                state=state,
                state_path=state_path,
                clock=clock,
                strategy=strategy,
            )
    finally:
        set_precision(previous_policy)
    # BackupAndRestore empties its folders when a phase ends; the run is done with them.
    shutil.rmtree(os.path.join(config.run_dir, BACKUP_DIR), ignore_errors=True)

    best_model = save_float32(os.path.join(config.run_dir, BEST_MODEL_FILE), build)
    if multiworker:
        # Equal on every worker when the replicas stayed in sync.
        print(f"Weights fingerprint: {weights_fingerprint(model)}")
    if not chief:
        shutil.rmtree(os.path.dirname(config.output_dir), ignore_errors=True)
        return None
    heldout = None
    if splits is not None:
        heldout = splits.test or splits.validation
    finish_run(
        best_model,
        run_config,
        run_dir=config.run_dir,
        log_dir=config.log_dir,
        seed=config.seed,
        eval_samples=config.eval_samples,
        heldout=heldout,
        validation=validation,
        scored_on="validation" if splits is not None and splits.test is None else "test",
    )
    return config.run_dir


def _prepare_run(config):
    """Reads and checks every input, then makes the run folder; returns `(splits, source_model, source, state)`."""
    # Every input is read and checked before --overwrite deletes anything.
    refuse_existing_run(config)
    splits, source_model, source = resolve_inputs(config)
    state_path = os.path.join(config.run_dir, STATE_FILE)
    state = read_state(state_path) if config.resume else {}
    recipe = {
        "schedule": config.schedule,
        "precision": resolve_precision(config.precision),
        "style": config.style,
        "init_from": os.path.abspath(config.init_from) if config.init_from else "none",
    }
    # Before config.json is rewritten: a resume under another recipe changes nothing.
    check_recipe(state.get("recipe"), recipe)
    prepare_run_dirs(config)
    config.run_config().save(config.run_dir)
    if splits is not None:
        write_heldout(config.run_dir, splits)
    if config.resume and not state:
        print(f"Nothing to resume in {config.run_dir}: starting from the beginning.")
    write_state(state_path, dict(read_state(state_path), recipe=recipe))
    return splits, source_model, source, state


def train_phases(config, model, *, charset, splits, source_model, source, state, state_path, clock, strategy=None):
    """Phase 1, then phase 2 from phase 1's best weights; skips what `state`
    says is done (a resume). Returns the validation `(images, texts)`."""
    if source_model is not None:
        initialise_from(model, source_model, source, charset)
    train_data, images, texts = make_data(config, charset, splits)
    distributed = distributed_batches(strategy, train_data) if strategy is not None else None
    try:
        run_phases(
            config,
            model,
            charset=charset,
            train_data=train_data,
            validation=(images, texts),
            state=state,
            state_path=state_path,
            clock=clock,
            distributed=distributed,
        )
    finally:
        # Stops the processes that draw the synthetic pool.
        if hasattr(train_data, "close"):
            train_data.close()
    return images, texts


def weights_fingerprint(model):
    """A short hash of a model's weights: equal across workers that trained in sync."""
    digest = hashlib.sha1()
    for weight in model.get_weights():
        digest.update(weight.tobytes())
    return digest.hexdigest()[:16]
