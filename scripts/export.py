"""Write a run's SavedModel anew from its best.keras (batch norms folded in).

`python scripts/export.py --help` lists the flags; the code is `captcha_keras/cli/export.py`,
also run as `captcha-keras export`.
"""

import sys

from captcha_keras.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
