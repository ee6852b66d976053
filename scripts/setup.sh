#!/usr/bin/env bash
# Sets up captcha-keras on a fresh machine with Python 3.11 and pip: a virtual
# environment in .venv holding the package itself, editable, with its test
# tools and the HTTP service (requirements.txt: `pip install -e .[serve,test]`, so that `captcha_keras`
# imports from any folder and the `captcha-keras` command exists), and
# Graphviz (for the model diagram) from the system's package manager when it
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
if ! command -v dot >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    echo "Installing Graphviz for model diagrams..."
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq graphviz >/dev/null
  else
    echo "Graphviz is missing: install it (e.g. 'apt-get install graphviz', 'brew install graphviz')" \
         "to get model.png diagrams; everything else works without it." >&2
  fi
fi
echo "captcha-keras is set up in .venv"
