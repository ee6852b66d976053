"""Reading images from files or bytes and fitting them to a model's input.

An animated image (GIF, APNG, animated WebP) is read whole: its frames,
composited as a browser shows them (disposal methods, frames smaller than the
screen), are fused into one image (`fuse_frames`), since captchas of this
kind show each character clearly in some frames only. Its frames are counted
and bounded (`MAX_FRAMES`, frames x pixels within `max_pixels`) before any is
decoded.
"""

import io
import os
import struct

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
# a few thousand; a decompression bomb, billions. An animation's budget is
# its frames times its screen.
DEFAULT_MAX_PIXELS = 16_000_000
# Refuse animations of more frames than this: captchas blink through a few
# dozen at most.
MAX_FRAMES = 200
# How an animation's frames become one image (docs/animated.md says why). A run
# records the fusion it trained with (`RunConfig.fusion`) and its readers use
# that one; CAPTCHA_KERAS_FUSION sets what new runs use, for measuring them.
FUSIONS = ("salient", "darkest", "lightest", "median", "mean", "first")
FUSION = os.environ.get("CAPTCHA_KERAS_FUSION", "mean")
# The formats whose several frames are an animation (an MPO's are pictures of one scene).
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")


def check_fusion(fusion):
    """`fusion` if it is one of `FUSIONS` (CAPTCHA_KERAS_FUSION included), else a clear `ValueError`."""
    if fusion not in FUSIONS:
        raise ValueError(
            f"Unknown fusion (CAPTCHA_KERAS_FUSION or a run's config.json). Expected one of {FUSIONS}. "
            f"Received: {fusion!r}"
        )
    return fusion


def load_image(source, max_pixels=None, formats=None, fusion=None):
    """Opens and fully decodes an image from a path or bytes.

    Decoding everything up front turns a truncated file into an error here,
    not a half-grey image later. The size and format are checked from the
    header first, so a decompression bomb is refused before it is decoded.
    An animated GIF, PNG or WebP yields its frames fused (`fuse_frames`),
    in RGB; a still image's EXIF orientation is applied.

    Args:
        source: str, `os.PathLike` or bytes.
        max_pixels: int or None. Refuse images with more pixels (width x
            height) than this; None: Pillow's own bomb limit only.
        formats: sequence of str or None. Pillow format names to accept
            (`READ_FORMATS`); None: any format Pillow reads.
        fusion: str or None. How an animation's frames are fused
            (`fuse_frames`); None: `FUSION`.

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
    fusion = check_fusion(fusion or FUSION)
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
        if is_animation(image):
            frames = count_frames(image, source if name == "<bytes>" else name, name)
            check_animation(frames, width, height, max_pixels, name)
            fused = fuse_frames(read_frames(image, frames), fusion)
            image.close()
            return fused
        image.load()
        # In place: without an orientation tag it would otherwise copy every image.
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except BaseException as error:
        if image is not None:
            image.close()
        raise _image_error(name, error, formats) from None


def is_animation(image):
    """Whether an open image is an animation to fuse: a GIF, PNG or WebP of several frames (a
    phone's JPEG, MPO, holds several pictures too, but a browser shows its first)."""
    return image.format in ANIMATED_FORMATS and getattr(image, "is_animated", False)


def check_animation(frames, width, height, max_pixels, name):
    """Raises `ImageTooLarge` for more than `MAX_FRAMES` frames, or for frames x screen pixels past
    `max_pixels` (None: Pillow's bomb limit)."""
    budget = max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS
    if frames > MAX_FRAMES:
        raise ImageTooLarge(f"{name}: an animation of more than the {MAX_FRAMES} frames allowed.")
    if budget is not None and frames * width * height > budget:
        raise ImageTooLarge(
            f"{name}: {frames} frames of {width}x{height} are {frames * width * height:,} pixels, "
            f"more than the {budget:,} allowed."
        )


def count_frames(image, source, name):
    """An animation's frame count, read without decoding any frame.

    A GIF's blocks are walked here (`gif_frames`), which also refuses a frame
    reaching past the screen; APNG and WebP state their count in a header.
    """
    if image.format != "GIF":
        return image.n_frames
    if isinstance(source, (bytes, bytearray, memoryview)):
        return gif_frames(io.BytesIO(bytes(source)), name)
    with open(source, "rb") as f:
        return gif_frames(f, name)


def gif_frames(f, name="<bytes>", limit=MAX_FRAMES):
    """Counts a GIF's frames from its block structure, stopping past `limit`.

    Image data is skipped, not decoded. A truncated file ends the count (the
    decoder then says what is wrong).

    Raises:
        ImageError: a frame lies outside the logical screen (browsers clip
            it; a decoder would grow the canvas past the pixels checked).
    """
    header = f.read(13)
    if len(header) < 13:
        return 0
    width, height, flags = *struct.unpack("<HH", header[6:10]), header[10]
    if flags & 0x80:  # a global colour table
        f.seek(3 * (2 << (flags & 7)), io.SEEK_CUR)
    frames = 0
    while frames <= limit:
        block = f.read(1)
        if not block or block == b";":
            break
        if block == b"!":  # an extension: its label, then data sub-blocks
            f.read(1)
        elif block == b",":  # an image: its descriptor, a local colour table, LZW data sub-blocks
            descriptor = f.read(9)
            if len(descriptor) < 9:
                break
            left, top, frame_width, frame_height = struct.unpack("<HHHH", descriptor[:8])
            if left + frame_width > width or top + frame_height > height:
                raise ImageTooLarge(
                    f"{name}: frame {frames + 1} ({frame_width}x{frame_height} at {left},{top}) lies outside "
                    f"the GIF's {width}x{height} screen."
                )
            frames += 1
            if descriptor[8] & 0x80:
                f.seek(3 * (2 << (descriptor[8] & 7)), io.SEEK_CUR)
            f.read(1)  # LZW minimum code size
        else:
            continue  # a stray byte: Pillow's decoder skips it too, and reads on
        while True:  # data sub-blocks, each led by its length, until an empty one
            size = f.read(1)
            if not size or size == b"\x00":
                break
            f.seek(size[0], io.SEEK_CUR)
    return frames


def read_frames(image, count=None):
    """The frames of an open animation as a browser shows them, flattened onto white: RGB uint8 arrays.

    Args:
        image: an open animated `PIL.Image.Image`; left at the frame it was at.
        count: int or None. Read at most this many (the count checked before
            decoding: nothing past it is decoded); None: every frame.
    """
    frames, current = [], image.tell()
    for index in range(image.n_frames if count is None else count):
        image.seek(index)
        # Pillow composites each frame onto the canvas the previous ones left (disposal methods included).
        frames.append(np.asarray(flatten(image).convert("RGB"), dtype="uint8"))
    image.seek(current)
    return frames


def fuse_frames(frames, method=FUSION):
    """One RGB image from an animation's frames (`(h, w, 3)` uint8 arrays).

    Methods:
    - `salient`: each pixel's value farthest (in luma) from the median of
      every pixel of every frame, the background's level: what any frame
      shows there, whether the text is darker or lighter than the
      background (a per-pixel median would lose a character shown in most
      frames: the frame where it fades would stand out);
    - `darkest`, `lightest`: the per-pixel minimum, maximum;
    - `median`, `mean`: per pixel;
    - `first`: the first frame (what readers did before).
    """
    check_fusion(method)
    stack = np.stack(frames).astype("int16")
    if method == "first" or len(frames) == 1:
        fused = stack[0]
    elif method == "darkest":
        fused = stack.min(axis=0)
    elif method == "lightest":
        fused = stack.max(axis=0)
    elif method == "mean":
        fused = np.rint(stack.mean(axis=0))
    else:
        if method == "median":
            fused = np.rint(np.median(stack, axis=0))
        else:
            # Distance in luma, so that the three channels pick the same frame.
            luma = stack @ np.array([299, 587, 114]) / 1000
            pick = np.abs(luma - np.median(luma)).argmax(axis=0)
            fused = np.take_along_axis(stack, pick[None, ..., None], axis=0)[0]
    return Image.fromarray(np.clip(fused, 0, 255).astype("uint8"), "RGB")


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
