"""Train a multi-head CNN captcha reader (one softmax head per character).

`python scripts/train_cnn.py --help` lists the flags; the code is `captcha_keras/cli/train.py`,
also run as `captcha-keras train-cnn`.
"""

import sys

from captcha_keras.cli.train import main_cnn

if __name__ == "__main__":
    sys.exit(main_cnn())
