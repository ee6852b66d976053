"""Checking an export against the run's SavedModel before it replaces anything.

Every export is read on fresh captchas: the SavedModel's reading signature
against `Predictor` in Python, an ONNX or float LiteRT model against the
SavedModel (texts equal), a quantized LiteRT model against the SavedModel's
accuracy (within `QUANTIZED_TOLERANCE`).
"""

import dataclasses
import io
import json
import os

import numpy as np
from PIL import Image

# Seeds of no run: the test stream (never trained on) of these seeds is
# drawn by nothing else, and the calibration images come from the training
# stream of another.
CHECK_SEED = 9001
CALIBRATION_SEED = 9002
QUANTIZED_TOLERANCE = 0.003  # accuracy, as a fraction


class ExportCheckError(ValueError):
    """An export read differently from the SavedModel: it was not written."""


@dataclasses.dataclass
class CheckSet:
    """Labelled images for checking: model-input arrays, encoded files, labels."""

    images: np.ndarray
    blobs: list
    texts: list
    source: str


def run_test_data(run_dir):
    """The labelled folder a folder run was scored on (its `metrics.json`'s `data`), if it is here."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        data = json.load(f).get("data")
    return data if data and os.path.isdir(data) else None


def check_set(config, samples, data=None, seed=CHECK_SEED):
    """Up to `samples` labelled images: from the folder `data`, else fresh synthetic test captchas.

    Files of a folder keep their own bytes (so the reading signature decodes
    and resizes them itself); synthetic captchas are encoded as PNG.
    """
    if data:
        from captcha_keras.data.folder import read_folder

        folder = read_folder(data, config.width, config.height, config.channels, config.keep_aspect, progress=None)
        keep = min(samples, len(folder.texts))
        files = folder.files[:keep]
        blobs = []
        for name in files:
            with open(os.path.join(data, name), "rb") as f:
                blobs.append(f.read())
        return CheckSet(folder.images[:keep], blobs, list(folder.texts[:keep]), f"{keep} images of {data}")
    from captcha_keras.training.reports import draw_test_set

    images, texts = draw_test_set(config, samples, seed)
    return CheckSet(images, [encode_png(a) for a in images], list(texts), f"{samples} fresh synthetic captchas (seed {seed})")


def calibration_images(config, samples, data=None):
    """float32 batches of one image for int8's representative dataset: the run's own kind of data.

    From `data` (a folder of the run's training images) when given, else the
    synthetic training stream drawn as the run was trained.
    """
    if data:
        from captcha_keras.data.folder import read_folder

        images = read_folder(data, config.width, config.height, config.channels, config.keep_aspect,
                             progress=None).images[:samples]
    else:
        from captcha_keras.data.synthetic import SyntheticCaptchas
        from captcha_keras.data.synthetic import draw_batches

        batch = min(250, samples)
        stream = SyntheticCaptchas(config.charset, config.width, config.height, (config.min_length, config.max_length),
                                   grayscale=config.grayscale, seed=CALIBRATION_SEED, stream="train",
                                   batch_size=batch, steps=-(-samples // batch), family=None,
                                   style=config.style)
        images, _ = draw_batches(stream, progress=None)
        images = images[:samples]
    return lambda: (images[i : i + 1].astype("float32") for i in range(len(images)))


def encode_png(array):
    """A model-input array `(h, w, 1 or 3)` as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, "PNG")
    return buffer.getvalue()


def predict_texts(predictor, images, batch_size=256):
    return [p.text for start in range(0, len(images), batch_size)
            for p in predictor.predict_arrays(images[start : start + batch_size])]


def compare_texts(expected, got, what, against):
    """Raises `ExportCheckError` unless the texts are equal; returns the figures."""
    differ = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
    if differ:
        examples = ", ".join(f"{expected[i]!r} -> {got[i]!r}" for i in differ[:5])
        raise ExportCheckError(
            f"{what} read {len(differ)} of {len(expected)} captchas differently from {against} "
            f"({len(differ) / len(expected):.2%}; e.g. {examples}). Nothing was replaced."
        )
    return {"samples": len(expected), "differences": 0}


def compare_accuracy(truths, expected, got, what, tolerance=QUANTIZED_TOLERANCE):
    """Raises `ExportCheckError` if `got` is less accurate than `expected` by more than `tolerance`."""
    reference = float(np.mean([a == b for a, b in zip(truths, expected)]))
    accuracy = float(np.mean([a == b for a, b in zip(truths, got)]))
    figures = {"samples": len(truths), "accuracy": accuracy, "savedmodel_accuracy": reference,
               "differences": sum(a != b for a, b in zip(expected, got))}
    if reference - accuracy > tolerance:
        raise ExportCheckError(
            f"{what} read {accuracy:.2%} of {len(truths)} captchas right, the SavedModel {reference:.2%}: "
            f"{(reference - accuracy) * 100:.2f} points lower, more than the {tolerance * 100:.1f} allowed. "
            "Nothing was replaced."
        )
    return figures
