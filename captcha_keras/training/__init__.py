"""Training: the reference design's two-phase recipe, with resume.

    config.py      TrainConfig, the settings of a run, and the recipe's constants
    inputs.py      what the flags leave open, from --init-from and the folder data
    streams.py     the training stream and the fixed validation set
    phases.py      compile, callbacks and fit of phase 1 and phase 2
    run_folder.py  run folders, resume checks, the float32 checkpoint
    recipe.py      `train(config)`: all of it, end to end

The names below are loaded when first used, so that `config` (all that the
command-line flags need) comes without Keras and TensorFlow.

Example:

>>> from captcha_keras.training import TrainConfig, train
>>> train(TrainConfig(family="ctc", charset="digits", max_minutes=5))
"""

import importlib

_EXPORTS = {
    "FINAL_FACTOR": "config",
    "FINE_TUNE_FACTOR": "config",
    "PHASE1_SHARE": "config",
    "SCHEDULES": "config",
    "STATE": "config",
    "SYNTHETIC_STEPS": "config",
    "TrainConfig": "config",
    "compile_model": "phases",
    "load_with_optimizer_state": "phases",
    "phase_schedule": "phases",
    "trim_csv": "phases",
    "train": "recipe",
    "prepare_run_dirs": "run_folder",
    "make_data": "streams",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
