"""Read captcha images with a trained run's SavedModel.

`python scripts/predict.py --help` lists the flags; the code is `captcha_keras/cli/predict.py`,
also run as `captcha-keras predict`.
"""

import sys

from captcha_keras.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
