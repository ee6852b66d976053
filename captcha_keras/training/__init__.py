"""Training: the reference design's two-phase recipe, with resume.

    config.py      TrainConfig, the settings of a run, and the recipe's constants
    inputs.py      what the flags leave open, from --init-from and the folder data
    geometry.py    the input size of a folder run, from its images
    finetune.py    starting from a trained run (--init-from): weights copied by layer name
    streams.py     the training stream and the fixed validation set
    callbacks.py   sequence accuracy, cosine schedule, safe checkpoints, time budget, run state, stopping
    phases.py      compile, callbacks and fit of phase 1 and phase 2
    distribute.py  training across devices and machines with tf.distribute
    run_folder.py  run folders, resume checks, the float32 checkpoint
    reports.py     what a finished run leaves: calibration, SavedModel, metrics, pictures
    pseudo.py      --unlabelled: rounds of pseudo-labels, each a run of its own
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
