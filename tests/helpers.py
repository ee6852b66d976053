"""Plain helpers the test files share: paths, the tiny training recipe, the real scripts and server.

Fixtures live in conftest.py; what a test imports by name lives here, so that no test file imports
conftest or another test file (pytest loads those itself, and importing them again runs them twice).
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "saved_models")
# The 300 labelled really-simple-captcha images kept with the tests.
RSC_IMAGES = os.path.join(ROOT, "tests", "fixtures", "really_simple_captcha", "images")

# A tiny recipe: 64x32 digits, a few steps. It exercises every stage of the
# real scripts in seconds; accuracy is not the point here. (Kept as flag and value pairs.)
# fmt: off
TINY_TRAINING = [
    "--width", "64", "--height", "32", "--charset", "digits",
    "--batch-size", "16", "--steps", "4", "--val-steps", "2",
    "--epochs", "2", "--fine-tune-epochs", "1", "--eval-samples", "40",
    "--workers", "1", "--verbose", "2", "--cache-size", "0",
]
# fmt: on


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
    """Trains `scripts/<script>` on the tiny recipe under `tmp_root`: `(run_dir, log_dir)`."""
    out, logs = tmp_root / "saved_models", tmp_root / "logs"
    run_script(script, *TINY_TRAINING, "--run-name", run_name, "--output-dir", out, "--logs-dir", logs, *extra)
    return out / run_name, logs / run_name


def read_json(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- image folders


def noise(seed, size=(72, 24), mode="L"):
    """Seeded random pixels of `size` (width, height), gray or RGB: images no two seeds share."""
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype="uint8")


def save(folder, name, pixels, **options):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(pixels).save(os.path.join(folder, name), **options)


def snapshot(folder):
    """Every file under `folder` with its bytes, to show a tool left it alone."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


# ---------------------------------------------------------------- the real service


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """scripts/serve.py in a subprocess, with its log kept for the assertions.

    Args:
        models_dir: the `--models-dir` to serve, or None for the shipped models.
        flags: more flags of serve.py.
        env: dict or None. Variables added to the server's environment.
        command: list of str or None. How to start it; defaults to scripts/serve.py.
        cwd: str. The folder it runs in. Defaults to the repository.
        log_dir: str or None. Where its log goes; defaults to beside `models_dir`.
    """

    def __init__(self, models_dir, *flags, env=None, command=None, cwd=ROOT, log_dir=None):
        self.port = free_port()
        log_dir = log_dir or (os.path.join(models_dir, "..") if models_dir is not None else tempfile.mkdtemp())
        self.log_path = os.path.join(log_dir, f"serve-{self.port}.log")
        self.log = open(self.log_path, "w")
        where = ["--models-dir", str(models_dir)] if models_dir is not None else []
        self.process = subprocess.Popen(
            [
                *(command or [sys.executable, os.path.join(ROOT, "scripts", "serve.py")]),
                *where,
                "--port",
                str(self.port),
                *flags,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.read_log()}")
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not start:\n{self.read_log()}")

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            kind = response.getheader("content-type", "")
            return response.status, json.loads(data) if "json" in kind else data
        finally:
            connection.close()

    def post_files(self, files, **fields):
        body, content_type = multipart(files, fields)
        return self.request("POST", "/predict", body, {"Content-Type": content_type})

    def post_json(self, payload, headers=None):
        return self.request(
            "POST", "/predict", json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}
        )

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def multipart(files, fields=None, boundary="captcha-keras-test-boundary"):
    """A multipart/form-data body of `files` (`(name, bytes)` pairs) and text `fields`, and its Content-Type."""
    lines = []
    for name, value in (fields or {}).items():
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="{name}"'.encode(),
            b"",
            value.encode(),
        ]
    for filename, data in files:
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="files"; filename="{filename}"'.encode(),
            b"Content-Type: application/octet-stream",
            b"",
            data,
        ]
    lines += [f"--{boundary}--".encode(), b""]
    return b"\r\n".join(lines), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- training


class FakeClock:
    """A `RunClock` whose minutes a test sets."""

    now = 0.0

    def minutes(self):
        return self.now
