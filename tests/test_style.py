"""The code stays formatted and linted as pyproject.toml's [tool.ruff] says."""

import subprocess
import sys

import pytest
from helpers import ROOT


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(command):
    result = subprocess.run([sys.executable, "-m", "ruff", *command, "."], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"ruff {' '.join(command)} found:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
