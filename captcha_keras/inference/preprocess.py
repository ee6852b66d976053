"""The preprocessor of a reading: any image a user has, as the model's input array."""

import os

import numpy as np

from captcha_keras.images import ImageError
from captcha_keras.images import array_to_image
from captcha_keras.images import check_animation
from captcha_keras.images import fuse_frames
from captcha_keras.images import is_animation
from captcha_keras.images import load_image
from captcha_keras.images import read_frames
from captcha_keras.images import to_model_input


def preprocess(source, config, max_pixels=None, formats=None):
    """Loads an image as a model input array `(height, width, channels)` uint8.

    Args:
        source: a path, bytes, a PIL image, or a NumPy array (`(h, w)`,
            `(h, w, 1)`, `(h, w, 3)` or `(h, w, 4)`, uint8, or floats in 0-255).
        config: `RunConfig`. The input size, channels and aspect handling.
        max_pixels, formats: limits on files and bytes, as `images.load_image`.

    Raises:
        ImageError: the source is not a readable image.
    """
    if isinstance(source, np.ndarray):
        image = array_to_image(source)
    elif hasattr(source, "convert"):
        image = source
        if is_animation(source):  # an open animation: its frames, as a file's
            check_animation(source.n_frames, *source.size, max_pixels, source_name(source))
            image = fuse_frames(read_frames(source), config.fusion)
    else:
        image = load_image(source, max_pixels=max_pixels, formats=formats, fusion=config.fusion)
    try:
        return to_model_input(image, config.width, config.height, config.channels, config.keep_aspect)
    except (ValueError, OSError, TypeError, KeyError) as error:  # a mode or palette Pillow cannot convert
        raise ImageError(f"{source_name(source)}: cannot be converted to the model's input ({error}).") from None


def check_batch(images, config):
    """`images` as an array, after checking it is a batch of the run's input size.

    Raises:
        ValueError: another shape, with the expected one.
    """
    images = np.asarray(images)
    expected = (config.height, config.width, config.channels)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"Images must be (n, {', '.join(map(str, expected))}). Received: shape={images.shape}")
    return images


def source_name(source):
    """How an error names an image: its path, or its type."""
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"
