"""`Reader`: read captchas in one call, from a shipped model or any trained run.

    >>> from captcha_keras import Reader
    >>> reader = Reader()                          # the shipped ctc_default
    >>> reading = reader.read("captcha.png")       # a path, bytes, a PIL image or a NumPy array
    >>> reading.text, reading.confidence
    ('7K2D', 0.9973)
    >>> reading.characters[0]
    CharacterReading(char='7', confidence=0.9999, alternatives=[('1', 4.1e-05), ...])
    >>> reader.read("captcha.png", allowed="0123456789")   # digits only, this call only
    >>> reader.read_many(paths, batch_size=64)

A `Reader` holds no state that a call changes, so one of them serves many
threads at once; `allowed` masks the model's output for that call alone.
"""

import json
import os

import numpy as np

from captcha_keras.images import DEFAULT_MAX_PIXELS
from captcha_keras.images import READ_FORMATS
from captcha_keras.images import ImageError
from captcha_keras.inference.predictor import SAVEDMODEL_DIR
from captcha_keras.inference.predictor import Predictor
from captcha_keras.inference.readings import TOP_ALTERNATIVES
from captcha_keras.inference.readings import allowed_indices
from captcha_keras.inference.readings import read_outputs
from captcha_keras.runs import SHIPPED_DIR
from captcha_keras.inference.runtimes import available_formats
from captcha_keras.inference.runtimes import split_model_path

DEFAULT_MODEL = "ctc_default"


def is_run(path):
    """Whether a folder is a trained run a `Reader` can load (config.json and a model in any format)."""
    return os.path.isfile(os.path.join(path, "config.json")) and bool(available_formats(path))


def find_run(model):
    """The folder of `model`: a run folder's path, or the name of a shipped model.

    Raises:
        FileNotFoundError: neither, with the shipped names listed.
    """
    model = os.fspath(model)
    if is_run(model) or split_model_path(model):
        return model
    shipped = os.path.join(SHIPPED_DIR, model)
    if os.sep not in model and is_run(shipped):
        return shipped
    names = sorted(n for n in os.listdir(SHIPPED_DIR) if is_run(os.path.join(SHIPPED_DIR, n))) if os.path.isdir(
        SHIPPED_DIR) else []
    raise FileNotFoundError(
        f"{model!r} is neither a trained run folder (with config.json and {SAVEDMODEL_DIR}/ or an export), an "
        f"export file of one, nor a shipped "
        f"model. Shipped models: {', '.join(names) or 'none found'}."
    )


class Reader:
    """Reads captchas with a trained model.

    Args:
        model: str. A run folder (`saved_models/<run>`), the name of a
            shipped model, or an export file of a run
            (`saved_models/<run>/model.onnx`). Defaults to `"ctc_default"`.
        decoder: str. CTC decoding, `"greedy"` or `"beam_search"`.
        beam_width: int. Beams of `"beam_search"`.
        alternatives: int. Alternatives listed per character. Defaults to 3.
        max_pixels: int. Files and bytes with more pixels are refused before
            they are decoded. Defaults to 16,000,000.
        formats: sequence of str or None. Image formats accepted from files
            and bytes (Pillow names). Defaults to PNG, JPEG, GIF, BMP, WebP;
            None accepts any that Pillow reads.
        format: str or None. The run's format to read with: `"savedmodel"`,
            `"onnx"`, `"litert"`, `"litert-dynamic"`, `"litert-int8"`; None:
            the SavedModel, or the first format the run has. ONNX and LiteRT
            need only their runtimes, not TensorFlow.

    Example:

    >>> Reader("saved_models/really_simple_captcha").read("2R4L.png").text
    '2R4L'
    """

    def __init__(self, model=DEFAULT_MODEL, decoder="greedy", beam_width=10, alternatives=TOP_ALTERNATIVES,
                 max_pixels=DEFAULT_MAX_PIXELS, formats=READ_FORMATS, format=None):
        found = find_run(model)
        self.predictor = Predictor.load(found, strategy=decoder, beam_width=beam_width, format=format)
        self.path = self.predictor.run_dir
        self.name = os.path.basename(os.path.normpath(self.path))
        self.alternatives = alternatives
        self.max_pixels = max_pixels
        self.formats = tuple(formats) if formats is not None else None

    @property
    def config(self):
        """The run's `RunConfig`: family, charset, input size, lengths."""
        return self.predictor.config

    @property
    def charset(self):
        return self.predictor.charset

    def info(self):
        """What a client needs to know of the model, with the run's shipped scores."""
        c = self.config
        metrics_path = os.path.join(self.path, "metrics.json")
        metrics = None
        if os.path.isfile(metrics_path):
            with open(metrics_path) as f:
                metrics = json.load(f)
        return {
            "name": self.name,
            "format": self.predictor.format,
            "family": c.family,
            "arch": c.arch,
            "charset": c.charset,
            "width": c.width,
            "height": c.height,
            "channels": c.channels,
            "min_length": c.min_length,
            "max_length": c.max_length,
            "metrics": metrics,
        }

    def check_allowed(self, allowed):
        """Raises `ValueError` if `allowed` holds characters outside the charset."""
        allowed_indices(allowed, self.charset)

    def preprocess(self, image):
        """One image as the model's input array; raises `ImageError` if it cannot be read."""
        return self.predictor.preprocess(image, max_pixels=self.max_pixels, formats=self.formats)

    def forward(self, arrays):
        """The model's raw outputs for a batch of preprocessed arrays."""
        return self.predictor.outputs(arrays)

    def decode(self, outputs, allowed=None):
        """`Reading`s of raw outputs, restricted to `allowed` characters if given."""
        c = self.config
        return read_outputs(outputs, c.family, self.charset, self.predictor.strategy, self.predictor.beam_width,
                            (c.min_length, c.max_length), allowed, self.alternatives)

    def read_arrays(self, arrays, allowed=None):
        """Reads a batch of preprocessed `(n, height, width, channels)` uint8 arrays."""
        return self.decode(self.forward(arrays), allowed)

    def read(self, image, allowed=None):
        """Reads one captcha.

        Args:
            image: a path, bytes, a PIL image or a NumPy array.
            allowed: str or None. The characters the reading may use (this
                call only); None: the model's whole charset.

        Returns:
            A `Reading`: `text`, `confidence`, `characters`.

        Raises:
            ImageError: the image cannot be read.
            ValueError: `allowed` holds characters outside the charset.
        """
        self.check_allowed(allowed)
        return self.read_arrays(np.stack([self.preprocess(image)]), allowed)[0]

    def read_many(self, images, batch_size=64, allowed=None):
        """Reads many captchas, `batch_size` at a time; returns a list of `Reading`s in order.

        Raises:
            ImageError: an image cannot be read (its position is named).
        """
        self.check_allowed(allowed)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1. Received: batch_size={batch_size}")
        images = list(images)
        readings = []
        for start in range(0, len(images), batch_size):
            arrays = []
            for index, image in enumerate(images[start : start + batch_size], start):
                try:
                    arrays.append(self.preprocess(image))
                except ImageError as error:
                    raise ImageError(f"image {index}: {error}") from None
            readings += self.read_arrays(np.stack(arrays), allowed)
        return readings
