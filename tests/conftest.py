"""Shared fixtures: tiny real runs trained once per session through the real scripts."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny recipe: 64x32 digits, a few steps. It exercises every stage of the
# real scripts in seconds; accuracy is not the point here.
TINY_TRAINING = [
    "--width", "64", "--height", "32", "--charset", "digits",
    "--batch-size", "16", "--steps", "4", "--val-steps", "2",
    "--epochs", "2", "--fine-tune-epochs", "1", "--eval-samples", "40",
    "--workers", "1", "--verbose", "2", "--cache-size", "0",
]


def run_script(name, *args, check=True, timeout=600):
    """Runs `scripts/<name>` in a fresh process and returns the CompletedProcess."""
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def train_tiny(tmp_root, script, run_name, *extra):
    out, logs = tmp_root / "saved_models", tmp_root / "logs"
    run_script(script, *TINY_TRAINING, "--run-name", run_name, "--output-dir", out, "--logs-dir", logs, *extra)
    return out / run_name, logs / run_name


@pytest.fixture(scope="session")
def ctc_run(tmp_path_factory):
    """A tiny CTC run with variable-length labels: `(run_dir, log_dir)`."""
    return train_tiny(tmp_path_factory.mktemp("ctc"), "train_ctc.py", "tiny_ctc", "--length", "2-3")


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory):
    """A tiny multi-head run trained from a cached pool: `(run_dir, log_dir)`."""
    # From a refreshed pool, so the cached stream runs through a real fit too.
    return train_tiny(tmp_path_factory.mktemp("cnn"), "train_cnn.py", "tiny_cnn", "--length", "3", "--cache-size", "64")


def read_json(path):
    with open(path) as f:
        return json.load(f)
