"""Train a multi-head CNN captcha reader (one softmax head per character).

    python scripts/train_cnn.py                           # the default recipe
    python scripts/train_cnn.py --arch reference          # ypwhs/captcha_break's model
    python scripts/train_cnn.py --run-name r1 --resume    # after an interruption
"""

import _path  # noqa: F401

from captcha_keras.cli import run_training
from captcha_keras.cli import training_parser


def parse_args(argv=None):
    return training_parser("multihead", __doc__.splitlines()[0]).parse_args(argv)


def main(args):
    run_training(args, "multihead")


if __name__ == "__main__":
    main(parse_args())
