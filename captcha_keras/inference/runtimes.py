"""Running a run's model in any of its formats: SavedModel, ONNX, LiteRT.

Each loader returns a function from a float32 batch `(n, height, width,
channels)` of 0-255 pixels to the model's outputs (an array for CTC, a dict
`{"c1": ..., ...}` for multi-head) as NumPy. ONNX and LiteRT run with their
own runtimes (`onnxruntime`, `ai-edge-litert`): nothing on those paths
imports TensorFlow.
"""

import os

import numpy as np

from captcha_keras.runs import FORMATS
from captcha_keras.runs import available_formats
from captcha_keras.runs import check_format
from captcha_keras.runs import export_path


def load_runtime(run_dir, format="savedmodel", threads=None):
    """The serving function of one of a run's formats.

    Args:
        run_dir: str. The run folder.
        format: str. A key of `FORMATS`.
        threads: int or None. Threads ONNX Runtime and LiteRT may use;
            None: all cores.

    Raises:
        FileNotFoundError: the run has no such export (with how to make it).
        ImportError: the format's runtime is not installed.
    """
    path = export_path(run_dir, format)
    if not os.path.exists(path):
        have = ", ".join(available_formats(run_dir)) or "none"
        raise FileNotFoundError(
            f"{run_dir!r} has no {format} export ({FORMATS[format]}); it has: {have}. Make it with "
            f"`python scripts/export.py --model {run_dir} --format {format.split('-')[0]}"
            + (f" --quantize {format.split('-')[1]}`" if "-" in format else "`")
        )
    return open_model(path, format, threads)


def open_model(path, format, threads=None):
    """The serving function of the model at `path`, a file or folder of `format`."""
    check_format(format)
    if format == "savedmodel":
        return _savedmodel(path)
    if format == "onnx":
        return _onnx(path, threads)
    return _litert(path, threads)


def _savedmodel(path):
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(
            "Reading a SavedModel needs TensorFlow, which the 'train' extra installs: "
            "pip install 'captcha-keras[train]' (or read the run's model.onnx, which needs none)"
        ) from None

    loaded = tf.saved_model.load(path)

    def serve(images):
        outputs = loaded.serve(images)
        if isinstance(outputs, dict):
            return {k: np.asarray(v) for k, v in outputs.items()}
        return np.asarray(outputs)

    serve.loaded = loaded  # keeps the trackable alive with its function
    return serve


def _onnx(path, threads):
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "Reading an ONNX model needs onnxruntime, a dependency of captcha-keras: pip install onnxruntime"
        ) from None
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]

    def serve(images):
        outputs = session.run(None, {input_name: np.asarray(images, dtype="float32")})
        return outputs[0] if len(outputs) == 1 else dict(zip(names, outputs))

    return serve


def _litert(path, threads):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ImportError(
            "Reading a LiteRT model needs ai-edge-litert, which the 'litert' extra installs: "
            "pip install 'captcha-keras[litert]'"
        ) from None
    import threading

    interpreter = Interpreter(model_path=path, num_threads=threads or os.cpu_count())
    runner = interpreter.get_signature_runner()
    (input_name,) = interpreter.get_signature_list()[next(iter(interpreter.get_signature_list()))]["inputs"]
    # An interpreter runs one call at a time; the service calls from many threads.
    lock = threading.Lock()

    def serve(images):
        with lock:
            outputs = runner(**{input_name: np.asarray(images, dtype="float32")})
            outputs = {k: np.array(v) for k, v in outputs.items()}
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    return serve
