"""Reading captchas with a trained run: load, preprocess, predict, decode.

Only TensorFlow (for the SavedModel) and this package's small pure modules
are needed: no model code, no training code. The CLI, the HTTP service and
the exports build on `Predictor`.
"""

import dataclasses
import os

import numpy as np

from captcha_keras.inference.decoding import decode_outputs
from captcha_keras.inference.decoding import head_list
from captcha_keras.images import ImageError
from captcha_keras.images import array_to_image
from captcha_keras.images import list_images
from captcha_keras.images import load_image
from captcha_keras.images import to_model_input
from captcha_keras.inference.readings import allowed_indices
from captcha_keras.inference.readings import mask_outputs
from captcha_keras.runs import RunConfig
from captcha_keras.inference.runtimes import FORMATS
from captcha_keras.inference.runtimes import available_formats
from captcha_keras.inference.runtimes import check_format
from captcha_keras.inference.runtimes import load_runtime
from captcha_keras.inference.runtimes import split_model_path

SAVEDMODEL_DIR = "savedmodel"


@dataclasses.dataclass
class Prediction:
    """One read captcha."""

    text: str
    confidence: float


class Predictor:
    """Reads captchas with a run's SavedModel.

    Args:
        config: `RunConfig`. The run's input size and charset.
        serve: callable. Takes a float32 batch `(n, height, width, channels)`
            of 0-255 pixels; returns the model's outputs.
        strategy: str. CTC decoding, `"greedy"` or `"beam_search"`. Either
            way a text is kept within the run's label lengths
            (`decode_ctc`'s `lengths`).

    Example:

    >>> predictor = Predictor.load("saved_models/ctc_default")
    >>> predictor.predict_files(["captcha.png"])
    """

    def __init__(self, config, serve, strategy="greedy", beam_width=10):
        self.config = config
        self.charset = config.make_charset()
        self._serve = serve
        self.strategy = strategy
        self.beam_width = beam_width
        self.format = "savedmodel"
        self.lengths = (config.min_length, config.max_length)
        self._allowed = None

    def restrict(self, characters=None, lengths=None):
        """Reads only `characters` (a subset of the charset), and texts of `lengths` only.

        For a model trained on more than a set has: the base model on
        captchas of capitals and digits never answers a lower-case letter.
        The other characters are masked before decoding (`mask_outputs`, as
        `Reader.read(allowed=...)`).

        Each call replaces the last one's restrictions.

        Args:
            characters: str or None. The characters to keep; None keeps all.
            lengths: `(min, max)` within the run's lengths, or None for the run's.

        Returns:
            self.
        """
        self._allowed = None if characters is None else allowed_indices(characters, self.charset)
        self.lengths = (self.config.min_length, self.config.max_length)
        if lengths is not None:
            low, high = lengths
            if not self.config.min_length <= low <= high <= self.config.max_length:
                raise ValueError(f"Lengths {low}-{high} are outside the run's {self.config.length}.")
            if self.config.family != "ctc" and (low, high) != (self.config.min_length, self.config.max_length):
                raise ValueError("A multi-head model's length is fixed by its heads.")
            self.lengths = (low, high)
        return self

    @classmethod
    def load(cls, run_dir, strategy="greedy", beam_width=10, format=None, threads=None):
        """Loads a run's model in one of its formats (`runtimes.FORMATS`).

        Args:
            run_dir: str. A run folder, or the path of one of its export
                files (`.../model.onnx`, `.../model_int8.tflite`), which
                sets the format.
            format: str or None. `"savedmodel"`, `"onnx"`, `"litert"`,
                `"litert-dynamic"` or `"litert-int8"`; None: the SavedModel,
                or the first format the run has. ONNX and LiteRT run without
                TensorFlow (beam-search decoding still imports it).
            threads: int or None. Threads of ONNX Runtime or LiteRT.
        """
        split = split_model_path(run_dir)
        if split:
            run_dir, path_format = split
            if format not in (None, path_format):
                raise ValueError(f"{FORMATS[path_format]} is a {path_format} model, not {format}.")
            format = path_format
        if format is None:
            have = available_formats(run_dir)
            format = "savedmodel" if "savedmodel" in have or not have else have[0]
        check_format(format)
        config = RunConfig.load(run_dir)
        predictor = cls(config, load_runtime(run_dir, format, threads), strategy, beam_width)
        predictor.format = format
        predictor.run_dir = run_dir
        return predictor

    def preprocess(self, source, max_pixels=None, formats=None):
        """Loads an image as a model input array `(height, width, channels)` uint8.

        Args:
            source: a path, bytes, a PIL image, or a NumPy array (`(h, w)`,
                `(h, w, 1)`, `(h, w, 3)` or `(h, w, 4)`, uint8, or floats in 0-255).
            max_pixels, formats: limits on files and bytes, as `load_image`.

        Raises:
            ImageError: the source is not a readable image.
        """
        if isinstance(source, np.ndarray):
            image = array_to_image(source)
        elif hasattr(source, "convert"):
            image = source
        else:
            image = load_image(source, max_pixels=max_pixels, formats=formats)
        c = self.config
        try:
            return to_model_input(image, c.width, c.height, c.channels, c.keep_aspect)
        except (ValueError, OSError, TypeError, KeyError) as error:  # a mode or palette Pillow cannot convert
            raise ImageError(f"{_name(source)}: cannot be converted to the model's input ({error}).") from None

    def outputs(self, images):
        """The model's raw outputs for a batch of uint8 `(n, height, width, channels)` arrays.

        Returns:
            CTC: the probabilities `(n, time_steps, classes)`; multi-head: a
            dict of head arrays `{"c1": (n, classes), ...}`.
        """
        images = np.asarray(images)
        expected = (self.config.height, self.config.width, self.config.channels)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise ValueError(f"Images must be (n, {', '.join(map(str, expected))}). Received: shape={images.shape}")
        outputs = self._serve(images.astype("float32"))
        if isinstance(outputs, dict):
            return {k: np.asarray(v) for k, v in outputs.items()}
        if isinstance(outputs, (list, tuple)):
            return [np.asarray(v) for v in outputs]
        return np.asarray(outputs)

    def predict_arrays(self, images):
        """Reads a batch of uint8 `(n, height, width, channels)` arrays."""
        outputs = self.outputs(images)
        if self._allowed is not None:
            family = self.config.family
            outputs = mask_outputs(outputs if family == "ctc" else head_list(outputs), family, self.charset,
                                   self._allowed)
        decoded = decode_outputs(outputs, self.config.family, self.charset, self.strategy, self.beam_width,
                                 self.lengths)
        return [Prediction(text, confidence) for text, confidence in decoded]

    def predict(self, sources):
        """Reads images given as paths, bytes or PIL images (all must be readable)."""
        return self.predict_arrays(np.stack([self.preprocess(s) for s in sources]))

    def predict_files(self, paths, batch_size=64, max_pixels=None):
        """Reads files and folders; yields `(path, Prediction or ImageError)`.

        A file that cannot be read (or has more than `max_pixels` pixels)
        yields its error and the others go on.
        """
        files = list_images(paths)
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            arrays, readable, results = [], [], {}
            for path in chunk:
                try:
                    arrays.append(self.preprocess(path, max_pixels=max_pixels))
                    readable.append(path)
                except ImageError as error:
                    results[path] = error
            if arrays:
                results.update(zip(readable, self.predict_arrays(np.stack(arrays))))
            for path in chunk:
                yield path, results[path]


def _name(source):
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"
