"""`train_ctc.py` and `train_cnn.py`: parse the flags, say where training runs, train."""

import os

from captcha_keras.cli.flags import fail
from captcha_keras.cli.flags import training_parser

CTC_DESCRIPTION = """Train a CNN + BiGRU captcha reader with CTC loss (the main entry point).

    python scripts/train_ctc.py                           # the default recipe
    python scripts/train_ctc.py --arch reference          # ypwhs/captcha_break's model
    python scripts/train_ctc.py --run-name r1 --resume    # after an interruption
    python scripts/train_ctc.py --data DIR --test-data TEST_DIR   # your own labelled captchas
"""
CNN_DESCRIPTION = """Train a multi-head CNN captcha reader (one softmax head per character).

    python scripts/train_cnn.py                           # the default recipe
    python scripts/train_cnn.py --arch reference          # ypwhs/captcha_break's model
    python scripts/train_cnn.py --run-name r1 --resume    # after an interruption
"""


DESCRIPTIONS = {"main_ctc": CTC_DESCRIPTION, "main_cnn": CNN_DESCRIPTION}


def training_config(args, family):
    """A `TrainConfig` from parsed training flags."""
    from captcha_keras.training import TrainConfig

    values = {k: v for k, v in vars(args).items()}
    return TrainConfig(family=family, **values)


def describe_device():
    """One line saying where training runs: the GPUs TensorFlow sees, or the CPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"Training on {len(gpus)} GPU(s): {', '.join(g.name for g in gpus)}"
    return f"Training on the CPU ({os.cpu_count()} cores); no GPU found."


def run_training(args, family):
    """The body of the training scripts: config, device line, train, clear errors."""
    from captcha_keras.training import train

    try:
        config = training_config(args, family)
    except ValueError as error:
        fail(error)
    print(describe_device())
    try:
        return train(config)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        fail(error)


def main_ctc(argv=None):
    """`scripts/train_ctc.py` and `captcha-keras train-ctc`."""
    run_training(training_parser("ctc", CTC_DESCRIPTION).parse_args(argv), "ctc")
    return 0


def main_cnn(argv=None):
    """`scripts/train_cnn.py` and `captcha-keras train-cnn`."""
    run_training(training_parser("multihead", CNN_DESCRIPTION).parse_args(argv), "multihead")
    return 0
