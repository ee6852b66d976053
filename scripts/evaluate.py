"""Score a trained run on fresh, seeded captchas drawn with its own settings, or on a labelled folder.

`python scripts/evaluate.py --help` lists the flags; the code is `captcha_keras/cli/evaluate.py`,
also run as `captcha-keras evaluate`.
"""

import sys

from captcha_keras.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
