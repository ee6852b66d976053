"""Train a CNN + BiGRU captcha reader with CTC loss (the main entry point).

    python scripts/train_ctc.py                           # the default recipe
    python scripts/train_ctc.py --arch reference          # ypwhs/captcha_break's model
    python scripts/train_ctc.py --run-name r1 --resume    # after an interruption
"""

import _path  # noqa: F401

from captcha_keras.cli import run_training
from captcha_keras.cli import training_parser


def parse_args(argv=None):
    return training_parser("ctc", __doc__.splitlines()[0]).parse_args(argv)


def main(args):
    run_training(args, "ctc")


if __name__ == "__main__":
    main(parse_args())
