"""Serve trained models over HTTP: POST /predict, GET /models, /health, the OpenAPI page at /docs.

`python scripts/serve.py --help` lists the flags; the code is `captcha_keras/cli/serve.py`,
also run as `captcha-keras serve`.
"""

import sys

from captcha_keras.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())
