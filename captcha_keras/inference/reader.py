"""`Reader`: the one way to read captchas, from a shipped model or any trained run.

    >>> from captcha_keras import Reader
    >>> reader = Reader()                          # the shipped ctc_default
    >>> reading = reader.read("captcha.png")       # a path, bytes, a PIL image or a NumPy array
    >>> reading.text, reading.confidence
    ('7K2D', 0.9973)
    >>> reading.characters[0]
    CharacterReading(char='7', confidence=0.9999, alternatives=[('1', 4.1e-05), ...])
    >>> reader.read("captcha.png", allowed="0123456789")   # digits only, this call only
    >>> reader.read("captcha.png", min_confidence=0.99).text  # None when less sure: ask for another
    >>> reader.read_many(paths, batch_size=64)

A reading is preprocessor -> model -> postprocessor: `preprocess` turns an
image into the model's input array, `forward` runs the model in the run's
format (`runtimes`), `decode` turns its outputs into `Reading`s
(`readings.read_outputs`). predict.py, evaluate.py, the HTTP service, the
page, the end of training and the exports' checks all read through it, so a
text and its confidence mean the same everywhere.

Confidences are calibrated: the run's temperature (fitted on its validation
images at the end of training, `calibration`) scales the outputs before
they are decoded, so that a confidence of 0.99 is right 99 times in 100.
`min_confidence` withholds the text of a reading less sure than that.

A `Reader` holds no state that a call changes, so one of them serves many
threads at once; `allowed`, `lengths` and `min_confidence` apply to that call alone.
"""

import importlib.util
import os

import numpy as np

from captcha_keras.images import DEFAULT_MAX_PIXELS
from captcha_keras.images import IMAGE_EXTENSIONS
from captcha_keras.images import READ_FORMATS
from captcha_keras.images import ImageError
from captcha_keras.images import list_images
from captcha_keras.inference.calibration import apply_temperature
from captcha_keras.inference.decoding import STRATEGIES
from captcha_keras.inference.preprocess import check_batch
from captcha_keras.inference.preprocess import preprocess
from captcha_keras.inference.readings import TOP_ALTERNATIVES
from captcha_keras.inference.readings import abstain_below
from captcha_keras.inference.readings import allowed_indices
from captcha_keras.inference.readings import check_min_confidence
from captcha_keras.inference.readings import read_outputs
from captcha_keras.inference.readings import with_answers
from captcha_keras.inference.runtimes import load_runtime
from captcha_keras.runs import DEFAULT_MODEL
from captcha_keras.runs import FORMATS
from captcha_keras.runs import RunConfig
from captcha_keras.runs import available_formats
from captcha_keras.runs import check_format
from captcha_keras.runs import find_run
from captcha_keras.runs import read_metrics
from captcha_keras.runs import split_model_path


def default_format(have):
    """The format a `Reader` reads a run in when none is asked for, of those it `have`s.

    The SavedModel where TensorFlow is installed; else, and for runs without
    one, the first export whose runtime is: a base install (no TensorFlow)
    reads a clone's runs through their `model.onnx`.
    """
    runtimes = {"savedmodel": "tensorflow", "onnx": "onnxruntime"}
    usable = [f for f in have if importlib.util.find_spec(runtimes.get(f, "ai_edge_litert")) is not None]
    return (usable or have or ["savedmodel"])[0]


class Reader:
    """Reads captchas with a trained model.

    Args:
        model: str. A run folder (`saved_models/<run>`), the name of a
            shipped model, or an export file of a run
            (`saved_models/<run>/model.onnx`). Defaults to `"ctc_default"`.
        decoder: str. CTC decoding, `"greedy"` or `"beam_search"`. Either
            way a text is kept within the run's label lengths.
        beam_width: int. Beams of `"beam_search"`.
        alternatives: int. Alternatives listed per character. Defaults to 3.
        max_pixels: int or None. Files and bytes with more pixels are refused
            before they are decoded. Defaults to 16,000,000.
        formats: sequence of str or None. Image formats accepted from files
            and bytes (Pillow names). Defaults to PNG, JPEG, GIF, BMP, WebP;
            None accepts any that Pillow reads.
        format: str or None. The run's format to read with: `"savedmodel"`,
            `"onnx"`, `"litert"`, `"litert-dynamic"`, `"litert-int8"`; None:
            the SavedModel where TensorFlow is installed, else the first
            export whose runtime is (`default_format`; an export file's path
            sets it). ONNX and LiteRT need only their runtimes,
            not TensorFlow.
        threads: int or None. Threads of ONNX Runtime or LiteRT; None: all cores.

    Example:

    >>> Reader("saved_models/really_simple_captcha").read("2R4L.png").text
    '2R4L'
    """

    def __init__(
        self,
        model=DEFAULT_MODEL,
        decoder="greedy",
        beam_width=10,
        alternatives=TOP_ALTERNATIVES,
        max_pixels=DEFAULT_MAX_PIXELS,
        formats=READ_FORMATS,
        format=None,
        threads=None,
    ):
        path = find_run(model)
        split = split_model_path(path)
        if split:
            path, path_format = split
            if format not in (None, path_format):
                raise ValueError(f"{FORMATS[path_format]} is a model of format {path_format}, not {format}.")
            format = path_format
        if format is None:
            format = default_format(available_formats(path))
        check_format(format)
        config = RunConfig.load(path)
        self._setup(
            config,
            load_runtime(path, format, threads),
            format,
            path,
            decoder,
            beam_width,
            alternatives,
            max_pixels,
            formats,
        )

    @classmethod
    def from_runtime(
        cls,
        config,
        serve,
        format="savedmodel",
        path=None,
        decoder="greedy",
        beam_width=10,
        alternatives=TOP_ALTERNATIVES,
        max_pixels=DEFAULT_MAX_PIXELS,
        formats=READ_FORMATS,
    ):
        """A `Reader` of a model already loaded: what checks an export before it is put in a run.

        Args:
            config: `RunConfig`. The run's input size and charset.
            serve: callable. Takes a float32 batch `(n, height, width,
                channels)` of 0-255 pixels; returns the model's outputs
                (`runtimes.open_model` gives one for a file of any format).
            format: str. The format `serve` runs, for `info()`.
            path: str or None. The run folder, if there is one.
        """
        reader = cls.__new__(cls)
        reader._setup(config, serve, format, path, decoder, beam_width, alternatives, max_pixels, formats)
        return reader

    def _setup(self, config, serve, format, path, decoder, beam_width, alternatives, max_pixels, formats):
        if decoder not in STRATEGIES:
            raise ValueError(f"Unknown decoder. Expected one of {STRATEGIES}. Received: decoder={decoder!r}")
        if decoder == "beam_search" and importlib.util.find_spec("keras") is None:
            # Said now, not at the first request: beam search is Keras' CTC decoder.
            raise ImportError(
                "decoder='beam_search' needs Keras, which the 'train' extra installs: "
                "pip install 'captcha-keras[train]' (or use decoder='greedy')"
            )
        self.config = config
        self.charset = config.make_charset()
        self._serve = serve
        self.format = format
        self.path = path
        self.name = os.path.basename(os.path.normpath(path)) if path else None
        self.decoder = decoder
        self.beam_width = beam_width
        self.alternatives = alternatives
        self.max_pixels = max_pixels
        self.formats = tuple(formats) if formats is not None else None

    def info(self):
        """What a client needs to know of the model, with the run's scores."""
        c = self.config
        return {
            "name": self.name,
            "format": self.format,
            "family": c.family,
            "arch": c.arch,
            "charset": c.charset,
            "width": c.width,
            "height": c.height,
            "channels": c.channels,
            "min_length": c.min_length,
            "max_length": c.max_length,
            "temperature": c.temperature,
            "task": c.task,
            "metrics": read_metrics(self.path) if self.path else None,
        }

    def check_allowed(self, allowed):
        """Raises `ValueError` if `allowed` holds characters outside the charset."""
        allowed_indices(allowed, self.charset)

    def check_lengths(self, lengths):
        """`lengths` as a `(min, max)` tuple within the run's; None: the run's own.

        Raises:
            ValueError: lengths outside the run's, or other lengths for a
                multi-head model, whose length its heads fix.
        """
        c = self.config
        if lengths is None:
            return c.min_length, c.max_length
        low, high = lengths
        if not c.min_length <= low <= high <= c.max_length:
            raise ValueError(f"Lengths {low}-{high} are outside the run's {c.length}.")
        if c.family != "ctc" and (low, high) != (c.min_length, c.max_length):
            raise ValueError("A multi-head model's length is fixed by its heads.")
        return low, high

    def preprocess(self, image):
        """One image as the model's input array; raises `ImageError` if it cannot be read."""
        return preprocess(image, self.config, max_pixels=self.max_pixels, formats=self.formats)

    def forward(self, arrays):
        """The model's raw outputs for a batch of uint8 `(n, height, width, channels)` arrays.

        Returns:
            CTC: the probabilities `(n, time_steps, classes)`; multi-head: a
            dict of head arrays `{"c1": (n, classes), ...}`.
        """
        outputs = self._serve(check_batch(arrays, self.config).astype("float32"))
        if isinstance(outputs, dict):
            return {k: np.asarray(v) for k, v in outputs.items()}
        if isinstance(outputs, (list, tuple)):
            return [np.asarray(v) for v in outputs]
        return np.asarray(outputs)

    def decode(self, outputs, allowed=None, lengths=None, min_confidence=None):
        """`Reading`s of raw outputs: calibrated, restricted to `allowed` characters and
        `lengths` if given, and withheld below `min_confidence`."""
        readings = read_outputs(
            apply_temperature(outputs, self.config.family, self.config.temperature),
            self.config.family,
            self.charset,
            self.decoder,
            self.beam_width,
            self.check_lengths(lengths),
            allowed,
            self.alternatives,
        )
        readings = abstain_below(readings, min_confidence)
        return with_answers(readings) if self.config.task == "arithmetic" else readings

    def read_arrays(self, arrays, allowed=None, lengths=None, min_confidence=None):
        """Reads a batch of preprocessed `(n, height, width, channels)` uint8 arrays."""
        check_min_confidence(min_confidence)
        return self.decode(self.forward(arrays), allowed, lengths, min_confidence)

    def read(self, image, allowed=None, lengths=None, min_confidence=None):
        """Reads one captcha.

        Args:
            image: a path, bytes, a PIL image or a NumPy array.
            allowed: str or None. The characters the reading may use (this
                call only); None: the model's whole charset.
            lengths: `(min, max)` or None. The text lengths the reading may
                have, within the run's (CTC); None: the run's.
            min_confidence: float or None. Withhold the text of a reading
                whose calibrated confidence is below this (the `Reading`'s
                `text` is None, its `reason` says why); None keeps every one.

        Returns:
            A `Reading`: `text`, `confidence`, `characters`.

        Raises:
            ImageError: the image cannot be read.
            ValueError: `allowed` holds characters outside the charset,
                `lengths` lie outside the run's, or `min_confidence` is not in [0, 1].
        """
        self._check_call(1, allowed, lengths, min_confidence)
        return self.read_arrays(np.stack([self.preprocess(image)]), allowed, lengths, min_confidence)[0]

    def read_many(self, images, batch_size=64, allowed=None, lengths=None, min_confidence=None):
        """Reads many captchas, `batch_size` at a time; returns a list of `Reading`s in order.

        Raises:
            ImageError: an image cannot be read (its position is named).
        """
        self._check_call(batch_size, allowed, lengths, min_confidence)
        images = list(images)
        readings = []
        for start in range(0, len(images), batch_size):
            arrays = []
            for index, image in enumerate(images[start : start + batch_size], start):
                try:
                    arrays.append(self.preprocess(image))
                except ImageError as error:
                    raise ImageError(f"image {index}: {error}") from None
            readings += self.read_arrays(np.stack(arrays), allowed, lengths, min_confidence)
        return readings

    def read_files(self, paths, batch_size=64, allowed=None, lengths=None, min_confidence=None):
        """Reads files and folders (their images, sorted); yields `(path, Reading or ImageError)`.

        The arguments are checked and the files listed at the call, before
        the first reading; a file that cannot be read yields its error and
        the others go on.

        Args:
            paths: a path, or a list of paths of images and folders.

        Raises:
            ValueError: no image among them (an empty folder), or bad arguments.
        """
        self._check_call(batch_size, allowed, lengths, min_confidence)
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        files = list_images(paths)
        if not files:
            raise ValueError(
                f"No images to read in {', '.join(map(os.fspath, paths)) or 'no paths'}: folders are read for files "
                f"ending in {', '.join(IMAGE_EXTENSIONS)}."
            )
        return self._read_listed(files, batch_size, allowed, lengths, min_confidence)

    def _read_listed(self, files, batch_size, allowed, lengths, min_confidence):
        for start in range(0, len(files), batch_size):
            chunk = files[start : start + batch_size]
            arrays, readable, results = [], [], {}
            for path in chunk:
                try:
                    arrays.append(self.preprocess(path))
                    readable.append(path)
                except ImageError as error:
                    results[path] = error
            if arrays:
                results.update(zip(readable, self.read_arrays(np.stack(arrays), allowed, lengths, min_confidence)))
            for path in chunk:
                yield path, results[path]

    def _check_call(self, batch_size, allowed, lengths, min_confidence=None):
        self.check_allowed(allowed)
        self.check_lengths(lengths)
        check_min_confidence(min_confidence)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1. Received: batch_size={batch_size}")
