"""Write a folder of synthetic captchas named <label>_<index>.png.

`python scripts/generate.py --help` lists the flags; the code is `captcha_keras/cli/generate.py`,
also run as `captcha-keras generate`.
"""

import sys

from captcha_keras.cli.generate import main

if __name__ == "__main__":
    sys.exit(main())
