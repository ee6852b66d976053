"""`python -m captcha_keras COMMAND ...`, the same as `captcha-keras COMMAND ...`."""

import sys

from captcha_keras.cli import main

sys.exit(main())
