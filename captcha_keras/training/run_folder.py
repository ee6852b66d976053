"""A run's folders: made without overwriting by accident, resumed only under
the recipe they started with, and left with a float32 checkpoint."""

import os
import shutil

import keras

from captcha_keras.precision import float32_copy


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
        started = " ".join(f"--{key.replace('_', '-')} {recorded[key]}" for key in changed)
        now = ", ".join(f"{key} {value}" for key, value in changed.items())
        raise ValueError(f"This run started with {started} and cannot resume with {now}. Resume with {started}.")


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
