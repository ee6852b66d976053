#!/usr/bin/env bash
# Sets up captcha-keras on a fresh machine with Python 3.11 and pip: a virtual
# environment in .venv holding the package itself, editable, with training, the
# HTTP service, the ONNX and LiteRT exports and the test tools (requirements.txt:
# `pip install -e .[train,serve,export,test]`,
# so that `captcha_keras` imports from any folder and the `captcha-keras`
# command exists); and, from the system's package manager when they are
# missing, Graphviz (for the model diagram) and Chromium (for the tests of
# the web page, which Playwright drives; Playwright's own browser downloads
# are not needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# The wheels a reading-only install needs (the versions installed above, and
# what they need), kept where tests/test_wheel.py installs the built wheel from
# into a fresh venv with no network: pip fetches them now, while setting up.
.venv/bin/python - <<'PYTHON' > .venv/reading-requirements.txt
from importlib.metadata import version
for name in ("numpy", "pillow", "onnxruntime"):
    print(f"{name}=={version(name)}")
PYTHON
.venv/bin/python -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
  -r .venv/reading-requirements.txt -d .venv/wheelhouse

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
APT_UPDATED=""
# install_missing COMMAND PACKAGE WHAT: installs PACKAGE with apt-get when COMMAND is missing.
install_missing() {
  if command -v "$1" >/dev/null 2>&1; then
    return
  fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    echo "Installing $2 ($3)..."
    if [ -z "$APT_UPDATED" ]; then
      $SUDO apt-get update -qq >/dev/null && APT_UPDATED=1
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null \
      || echo "Could not install $2: $3 will be missing." >&2
  else
    echo "$2 is missing: install it (e.g. 'apt-get install $2') for $3; everything else works without it." >&2
  fi
}
install_missing dot graphviz "model.png diagrams"
install_missing chromium chromium "the browser tests of the web page"
echo "captcha-keras is set up in .venv"
