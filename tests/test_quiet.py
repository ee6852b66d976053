"""Quiet start-up: TensorFlow's notices stay off the terminal, real errors and our own lines do not."""

import os
import re
import subprocess
import sys
import textwrap

import pytest
from helpers import ROOT
from helpers import run_script

from captcha_keras.quiet import filter_startup_log

BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = "I0000 00:00:1796118560.275578    2458 port.cc:153] oneDNN custom operations are on.\n"
FEATURES = (
    "I0000 00:00:1796118572.838310    4598 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
    "To enable the following instructions: AVX2 AVX512F, rebuild TensorFlow.\n"
)
CUINIT = "E0000 00:00:1796118571.481741    2479 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
REAL = "E0000 00:00:1796118571.5    2479 op_kernel.cc:1] Could not open /models/x: Permission denied\n"
WARNING = "/x/y.py:3: DeprecationWarning: something old\n  import thing\n"


@pytest.mark.parametrize(
    "text, has_gpu, expected",
    [
        (BANNER + ONEDNN + BANNER + ONEDNN, False, ""),
        (FEATURES, False, ""),  # the continuation line goes with its record
        (CUINIT, False, ""),
        (CUINIT, True, CUINIT),  # on a GPU machine a CUDA failure is real
        (ONEDNN + REAL + FEATURES, False, REAL),
        (WARNING + ONEDNN, False, WARNING),
        ("", False, ""),
    ],
)
def test_filter_startup_log(text, has_gpu, expected):
    assert filter_startup_log(text, has_gpu) == expected


def run_python(code, env=None, pythonpath=None):
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CAPTCHA_KERAS_TF_LOGS")}
    environment.update(env or {})
    if pythonpath:
        environment["PYTHONPATH"] = os.pathsep.join([pythonpath, environment.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=ROOT, timeout=300
    )


def test_a_fake_tensorflow_keeps_its_real_error_and_loses_its_notices(tmp_path):
    """A stand-in `tensorflow` package writes noise and a real error to file descriptor 2 as it imports."""
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(f"""
        import os
        os.write(2, {(BANNER + ONEDNN + REAL).encode()!r})

        class config:
            @staticmethod
            def list_physical_devices(kind=None):
                os.write(2, {CUINIT.encode()!r})
                return []
    """)
    )
    code = "import sys, captcha_keras, tensorflow; print('ours', file=sys.stderr)"
    result = run_python(code, pythonpath=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == REAL + "ours\n"
    loud = run_python(code, env={"CAPTCHA_KERAS_TF_LOGS": "1"}, pythonpath=str(tmp_path))
    assert loud.stderr == BANNER + ONEDNN + REAL + "ours\n"


def test_the_real_tensorflow_starts_quietly_after_captcha_keras():
    code = "import captcha_keras, keras, tensorflow as tf; tf.zeros(2) + 1; print('ready')"
    quiet = run_python(code)
    assert quiet.returncode == 0 and quiet.stdout == "ready\n"
    assert "InitializeLog" not in quiet.stderr and "cuInit" not in quiet.stderr and "I0000" not in quiet.stderr
    # The noise is real on this machine: without the hook it is there.
    loud = run_python(code, env={"CAPTCHA_KERAS_TF_LOGS": "1"})
    assert "InitializeLog" in loud.stderr or "I0000" in loud.stderr


def test_a_training_run_starts_with_the_projects_own_line(ctc_run):
    run_dir, _ = ctc_run
    result = run_script("evaluate.py", "--model", run_dir, "--samples", 8, "--workers", 1)
    assert "I0000" not in result.stderr and "InitializeLog" not in result.stderr and "cuInit" not in result.stderr
    first = run_script(
        "train_ctc.py",
        "--data",
        run_dir / "missing",
        "--run-name",
        "x",
        "--output-dir",
        run_dir.parent / "other",
        check=False,
    )
    assert first.returncode == 2
    assert first.stdout.splitlines()[0].startswith("Training on ")
    assert first.stderr.startswith("error: ")


SCRIPTS = [
    "train_ctc.py",
    "train_cnn.py",
    "predict.py",
    "evaluate.py",
    "generate.py",
    "dataset.py",
    "export.py",
    "serve.py",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_each_default_once_and_never_none_or_a_bool(script):
    text = run_script(script, "--help").stdout
    flat = " ".join(text.split())  # argparse wraps lines
    assert "(default: None)" not in flat
    assert "(default: True)" not in flat and "(default: False)" not in flat
    for option in re.findall(r"^  (--[\w-]+)", text, flags=re.M):
        entry = flat.split(f" {option} ", 1)[-1].split(" --", 1)[0]
        assert entry.count("default:") <= 1, (option, entry)


def test_boolean_flags_read_the_right_way_round():
    text = " ".join(run_script("train_ctc.py", "--help").stdout.split())
    assert "--no-augment turn off augmentation" in text
    assert "--resume continue an interrupted run" in text
