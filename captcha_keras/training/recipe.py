"""A training run end to end: settle the inputs, run both phases, write the run folder."""

import os
import shutil

import keras

from captcha_keras.callbacks import RunClock
from captcha_keras.callbacks import read_state
from captcha_keras.callbacks import write_state
from captcha_keras.charset import Charset
from captcha_keras.data.splits import write_heldout
from captcha_keras.finetune import BEST
from captcha_keras.models import build_model
from captcha_keras.precision import resolve_precision
from captcha_keras.precision import set_precision
from captcha_keras.training.config import STATE
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
