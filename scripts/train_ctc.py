"""Train a CNN + BiGRU captcha reader with CTC loss (the main entry point).

`python scripts/train_ctc.py --help` lists the flags; the code is `captcha_keras/cli/train.py`,
also run as `captcha-keras train-ctc`.
"""

import sys

from captcha_keras.cli.train import main_ctc

if __name__ == "__main__":
    sys.exit(main_ctc())
