"""Inspect, split, deduplicate and merge folders of labelled captcha images.

`python scripts/dataset.py --help` lists the flags; the code is `captcha_keras/cli/dataset.py`,
also run as `captcha-keras dataset`.
"""

import sys

from captcha_keras.cli.dataset import main

if __name__ == "__main__":
    sys.exit(main())
