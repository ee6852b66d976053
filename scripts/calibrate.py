"""Fit a trained run's confidence calibration (its temperature) on labelled images it did not train on.

`python scripts/calibrate.py --help` lists the flags; the code is `captcha_keras/cli/calibrate.py`,
also run as `captcha-keras calibrate`.
"""

import sys

from captcha_keras.cli.calibrate import main

if __name__ == "__main__":
    sys.exit(main())
