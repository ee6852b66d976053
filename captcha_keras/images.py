"""Reading images from files or bytes and fitting them to a model's input."""

import io
import os

import numpy as np
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An input that is not a readable image: not an image, truncated, empty."""


class ImageTooLarge(ImageError):
    """An image with more pixels than allowed, refused before it is decoded."""


# Formats a reader accepts by default: what browsers and captcha systems serve.
READ_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
# Refuse images of more pixels than this before decoding them: a captcha is
# a few thousand; a decompression bomb, billions.
DEFAULT_MAX_PIXELS = 16_000_000


def load_image(source, max_pixels=None, formats=None):
    """Opens and fully decodes an image from a path or bytes.

    Decoding everything up front turns a truncated file into an error here,
    not a half-grey image later. The size and format are checked from the
    header first, so a decompression bomb is refused before it is decoded.
    An animated image yields its first frame; an EXIF orientation is applied.

    Args:
        source: str, `os.PathLike` or bytes.
        max_pixels: int or None. Refuse images with more pixels (width x
            height) than this; None: Pillow's own bomb limit only.
        formats: sequence of str or None. Pillow format names to accept
            (`READ_FORMATS`); None: any format Pillow reads.

    Returns:
        A `PIL.Image.Image`.

    Raises:
        ImageError: naming the source and what is wrong with it
            (`ImageTooLarge` for too many pixels).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
    else:
        raise ImageError(f"An image is a path, bytes, a PIL image or a NumPy array. Received: {type(source).__name__}")
    image = None
    try:
        if name == "<bytes>":
            if not len(source):
                raise ImageError("Empty image data.")
            opened = io.BytesIO(source)
        else:
            opened = source
        # Only the accepted formats' decoders parse the bytes: a refused format is never parsed further.
        image = Image.open(opened, formats=None if formats is None else _decoders(formats))
        width, height = image.size
        if max_pixels is not None and width * height > max_pixels:
            raise ImageTooLarge(
                f"{name}: {width}x{height} is {width * height:,} pixels, more than the {max_pixels:,} allowed."
            )
        image.load()
        # In place: without an orientation tag it would otherwise copy every image.
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except BaseException as error:
        if image is not None:
            image.close()
        raise _image_error(name, error, formats) from None


def _decoders(formats):
    """Pillow's decoders for `formats`; a phone's JPEG with several pictures (MPO) is a JPEG to a browser."""
    Image.init()  # registers every plugin, so that each name below is known
    wanted = list(formats) + (["MPO"] if "JPEG" in formats else [])
    return [f for f in wanted if f in Image.OPEN]


def _image_error(name, error, formats):
    """The `ImageError` that says, for a person, why `name` could not be read."""
    if isinstance(error, ImageError):
        return error
    if isinstance(error, Image.DecompressionBombError):
        return ImageTooLarge(f"{name}: refused as a decompression bomb ({error}).")
    if isinstance(error, FileNotFoundError):
        return ImageError(f"{name}: no such file.")
    if isinstance(error, IsADirectoryError):
        return ImageError(f"{name}: is a folder, not an image.")
    if isinstance(error, PermissionError):
        return ImageError(f"{name}: cannot be opened (permission denied).")
    if isinstance(error, UnidentifiedImageError):
        if formats is not None:
            return ImageError(f"{name}: not an image of an accepted format ({', '.join(formats)}).")
        return ImageError(f"{name}: not an image Pillow can read.")
    if isinstance(error, MemoryError):
        return ImageError(f"{name}: too large to decode in memory.")
    if isinstance(error, Exception):
        # Pillow reports a truncated or corrupt file as OSError, SyntaxError, ValueError, EOFError,
        # struct.error and others, depending on the format and where the damage is.
        return ImageError(f"{name}: corrupt or truncated image ({type(error).__name__}: {error}).")
    raise error  # KeyboardInterrupt, SystemExit: not the image's fault


def array_to_image(array):
    """A PIL image from a NumPy array, checked: `(h, w)`, `(h, w, 1)`, `(h, w, 3)` or `(h, w, 4)`.

    uint8 arrays are taken as they are; float arrays as 0-255 values
    (the scale of `to_model_input`'s output), clipped.

    Raises:
        ImageError: another shape, dtype, or an empty or non-finite array.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
        raise ImageError(
            f"An image array is (height, width) or (height, width, 1, 3 or 4). Received: shape={array.shape}"
        )
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
            raise ImageError(f"An image array holds uint8 or 0-255 float pixels. Received: dtype={array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ImageError("An image array must not hold NaN or infinite values.")
        array = np.clip(np.rint(array), 0, 255).astype("uint8")
    # Pillow picks L, RGB or RGBA from a uint8 array's shape.
    return Image.fromarray(np.ascontiguousarray(array))


def flatten(image):
    """The image as a person sees it, in 8-bit L or RGB.

    Transparency (RGBA, LA, a palette with a transparent index) is
    composited onto white, as a browser shows it: converting it away would
    make a transparent background black and the captcha unreadable. 16- and
    32-bit grayscale is scaled to 8 bits instead of clipped.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype="float64")
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array * (255.0 / top), 0, 255).astype("uint8"), "L")
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype("uint8"), "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("RGB")


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
    image = flatten(image).convert("L" if channels == 1 else "RGB")
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
                files.extend(os.path.join(folder, n) for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS))
        else:
            files.append(path)
    return files
