"""Reading images from files or bytes and fitting them to a model's input."""

import io
import os

import numpy as np
from PIL import Image
from PIL import UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An input that is not a readable image: not an image, truncated, empty."""


def load_image(source):
    """Opens and fully decodes an image from a path or bytes.

    Decoding everything up front turns a truncated file into an error here,
    not a half-grey image later.

    Args:
        source: str, `os.PathLike` or bytes.

    Returns:
        A `PIL.Image.Image`.

    Raises:
        ImageError: naming the source and what is wrong with it.
    """
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)
    try:
        if isinstance(source, (bytes, bytearray)):
            if not source:
                raise ImageError("Empty image data.")
            image = Image.open(io.BytesIO(source))
        else:
            image = Image.open(source)
        image.load()
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file.") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a folder, not an image.") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read.") from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports a truncated or corrupt file as OSError or SyntaxError.
        raise ImageError(f"{name}: corrupt or truncated image ({error}).") from None
    return image


def to_model_input(image, width, height, channels, keep_aspect=False):
    """Converts an image to the model's input: `(height, width, channels)` uint8.

    Args:
        image: `PIL.Image.Image`.
        width: int. Target width.
        height: int. Target height.
        channels: int. 1 (grayscale) or 3 (RGB).
        keep_aspect: bool. Pad to the target's aspect ratio with the image's
            border colour before resizing, instead of stretching.
    """
    image = image.convert("L" if channels == 1 else "RGB")
    if keep_aspect:
        image = _pad_to_aspect(image, width / height)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype="uint8")
    return array[..., None] if channels == 1 else array


def _pad_to_aspect(image, aspect):
    w, h = image.size
    target_w, target_h = max(w, round(h * aspect)), max(h, round(w / aspect))
    if (target_w, target_h) == (w, h):
        return image
    # Captcha backgrounds are rarely pure white: pad with the median border colour.
    array = np.asarray(image)
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    fill = tuple(int(v) for v in np.median(border, axis=0).reshape(-1))
    canvas = Image.new(image.mode, (target_w, target_h), fill if len(fill) > 1 else fill[0])
    canvas.paste(image, ((target_w - w) // 2, (target_h - h) // 2))
    return canvas


def list_images(paths, recursive=False):
    """Expands files and folders into a sorted list of files.

    Folders contribute the files with an image extension; files named
    explicitly are kept whatever their extension, so that a bad file named
    on a command line gets its own error instead of vanishing.
    """
    files = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            walker = os.walk(path) if recursive else [(path, [], os.listdir(path))]
            for folder, _, names in walker:
                files.extend(
                    os.path.join(folder, n)
                    for n in sorted(names)
                    if n.lower().endswith(IMAGE_EXTENSIONS)
                )
        else:
            files.append(path)
    return files
