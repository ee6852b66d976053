"""Keeps TensorFlow's start-up noise off the user's terminal; real errors still get through.

Importing TensorFlow 2.21 on a machine without a GPU writes a dozen lines to
standard error before any program of ours can say a word: absl's "All log
messages before absl::InitializeLog() ..." banner, oneDNN and CUDA-stub
notices, and, at the first device query, `E0000 ... failed call to cuInit:
INTERNAL: CUDA error`. `TF_CPP_MIN_LOG_LEVEL` does not reach these, because
they are written before TensorFlow reads it. So the first `import tensorflow`
of a process that imported `captcha_keras` first runs with file descriptor 2
redirected to a temporary file, lists the devices, and then replays whatever
it wrote except the known notices: CUDA messages only where no GPU was found,
since on a GPU machine they are real problems. Anything else (a Python
warning, an unexpected error) reaches the terminal as it was written.

After start-up, TensorFlow's own C++ log keeps only fatal records
(`TF_CPP_MIN_LOG_LEVEL=3`, unless the environment sets it): the first fit on
this CPU logs `E0000 ... oneDNN supports DT_BOOL only on platforms with
AVX-512. Falling back ...` at error level, a notice, while a failing op
raises a Python exception whatever the level.

Set `CAPTCHA_KERAS_TF_LOGS=1` to see TensorFlow's output unfiltered.
"""

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# A C++ log record: severity letter, MMDD, time (absl and TensorFlow).
_RECORD = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")
_ALWAYS_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    re.compile(r"^I\d{4} "),  # informational records: oneDNN, CPU features, the CUDA stub
)
_CUDA = re.compile(r"cuda|cuInit|cuDNN|cuBLAS|cuFFT|TensorRT|TF-TRT|\bGPU\b", re.IGNORECASE)


def filter_startup_log(text, has_gpu):
    """The part of TensorFlow's start-up output a user should see.

    Args:
        text: str. What was written to standard error.
        has_gpu: bool. Whether TensorFlow found a GPU; without one, CUDA
            warnings and errors are noise.

    Returns:
        str. The records that are not known notices, continuation lines included.

    Example:

    >>> filter_startup_log("I0000 00:00:1.0 port.cc:153] oneDNN custom operations are on.\\n", has_gpu=False)
    ''
    """
    kept, keep_record = [], True
    for line in text.splitlines(keepends=True):
        if _RECORD.match(line) or line.startswith("WARNING: All log messages"):
            noise = any(p.match(line) for p in _ALWAYS_NOISE) or (not has_gpu and _CUDA.search(line))
            keep_record = not noise
        # Lines that do not start a record continue the one before them.
        if keep_record:
            kept.append(line)
    return "".join(kept)


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's loader: runs its import with standard error captured."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _CapturedStderr() as captured:
            self._loader.exec_module(module)
            # The first device query is what prints the cuInit failure.
            has_gpu = bool(module.config.list_physical_devices("GPU"))
        sys.stderr.write(filter_startup_log(captured.text, has_gpu))
        sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` the ordinary way, once, and hands it the quiet loader."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        remove_hook()
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _CapturedStderr:
    """Redirects file descriptor 2 (C++ and Python writes alike) to a temporary file."""

    def __enter__(self):
        self.text = ""
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", errors="replace")
        self._file.close()
        if exc_info[0] is not None:
            # The import failed: everything it wrote may explain why.
            sys.stderr.write(self.text)
        return False


_HOOK = _QuietFinder()


def install_hook():
    """Makes the next `import tensorflow` of this process quiet (see the module docstring).

    Does nothing when `CAPTCHA_KERAS_TF_LOGS=1`; only sets TensorFlow's log
    level when it is already imported or standard error has no file descriptor.
    """
    if os.environ.get("CAPTCHA_KERAS_TF_LOGS") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or _HOOK in sys.meta_path:
        return
    try:
        os.fstat(2)
    except OSError:
        return
    sys.meta_path.insert(0, _HOOK)


def remove_hook():
    """Takes the hook out again (it removes itself at the first TensorFlow import)."""
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)
