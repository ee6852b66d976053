"""A corpus of bad and odd image inputs, made on the fly, for the reliability tests.

Each case is `(name, data, expect)`: `expect` is `"error"` (not an image a
reader may accept: it must get a clear error), `"read"` (an odd but valid
image: it must be read) or `"either"` (a corrupt file some decoders repair).
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image

from captcha_keras.data.synthetic import render_captcha


def captcha_png(text="AB12", seed=0):
    """A real captcha of the default size, as PNG bytes."""
    return encode(Image.fromarray(render_captcha(text, seed)), "PNG")


def encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(width=20000, height=20000):
    """A tiny file whose header claims `width` x `height` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def cases():
    """The corpus: more than 200 cases."""
    rng = np.random.default_rng(2026)
    png = captcha_png("K7QX", seed=3)
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    jpeg = encode(rgb, "JPEG", quality=90)
    out = [
        ("empty.png", b"", "error"),
        ("text.png", b"hello, this is not an image\n", "error"),
        ("page.png", b"<!DOCTYPE html><html><body><img src=x></body></html>", "error"),
        ("json.png", b'{"images": []}', "error"),
        ("svg.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "error"),
        ("nul.png", b"\x00" * 1024, "error"),
        ("png-magic-only.png", png[:8], "error"),
        ("jpeg-magic-only.jpg", jpeg[:3], "error"),
        ("gif-header-only.gif", b"GIF89a", "error"),
        ("bmp-header-only.bmp", b"BM" + b"\x00" * 10, "error"),
        ("huge-20000x20000.png", huge_png(), "error"),
        ("tiff.tif", encode(rgb, "TIFF"), "error"),  # a real image, but not a format a web captcha comes in
    ]
    # Truncated at many cut points.
    # Cut before the end of the compressed pixels: past them come checksums
    # (zlib's and the chunk's) and the IEND chunk, which decoders need not read.
    for cut in np.linspace(9, len(png) - 24, 60).astype(int):
        out.append((f"png-cut-{cut}.png", png[:cut], "error"))
    for cut in np.linspace(4, len(jpeg) - 3, 60).astype(int):
        # A JPEG cut after its first scan data may still decode to a grey-padded image in some builds.
        out.append((f"jpeg-cut-{cut}.jpg", jpeg[:cut], "either"))
    # Wrong magic bytes.
    for i in range(8):
        broken = bytearray(png)
        broken[i] ^= 0xFF
        out.append((f"png-magic-{i}.png", bytes(broken), "error"))
    for i in range(2):
        broken = bytearray(jpeg)
        broken[i] ^= 0xFF
        out.append((f"jpeg-magic-{i}.jpg", bytes(broken), "error"))
    # Corrupt chunks: flipped bytes inside the PNG's image data (a CRC mismatch).
    idat = png.index(b"IDAT")
    for offset in np.linspace(idat + 8, len(png) - 20, 30).astype(int):
        broken = bytearray(png)
        broken[offset] ^= 0x5A
        out.append((f"png-corrupt-{offset}.png", bytes(broken), "error"))
    for offset in np.linspace(len(jpeg) // 3, len(jpeg) - 10, 15).astype(int):
        broken = bytearray(jpeg)
        broken[offset : offset + 4] = b"\xff\xd9\xff\xd8"
        out.append((f"jpeg-corrupt-{offset}.jpg", bytes(broken), "either"))
    # Random bytes, and random bytes behind a real magic number.
    for seed in range(10):
        noise = np.random.default_rng(seed).bytes(int(rng.integers(16, 4096)))
        out.append((f"random-{seed}.png", noise, "error"))
        out.append((f"random-behind-png-magic-{seed}.png", png[:16] + noise, "error"))
    out += odd_but_valid(png, rgb)
    out += bad_animations(rgb)
    return out


def bad_animations(rgb):
    """Animated GIFs no reader may decode: too many frames, a frame past the screen, truncated."""
    many = [Image.new("L", (12, 8), i % 256) for i in range(1000)]
    small = rgb.resize((40, 20))
    frames = [small, small.rotate(20), small.rotate(-20)]
    animation = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    outside = bytearray(animation)
    descriptors = [i for i in range(len(outside)) if outside[i] == 0x2C and outside[i + 5 : i + 9] == b"(\x00\x14\x00"]
    outside[descriptors[-1] + 5 : descriptors[-1] + 7] = struct.pack("<H", 60000)
    return [
        ("gif-1000-frames.gif", encode(many[0], "GIF", save_all=True, append_images=many[1:]), "error"),
        ("gif-frame-outside-screen.gif", bytes(outside), "error"),
        ("gif-animated-cut.gif", animation[: len(animation) * 2 // 3], "error"),
    ]


def odd_but_valid(png, rgb):
    """Real images in unusual shapes and modes, each of which must be read."""
    gray = rgb.convert("L")
    sixteen = Image.fromarray((np.asarray(gray, dtype="uint16") * 257).astype("uint16"))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    transparent = palette.copy()
    transparent.info["transparency"] = 0
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.where(np.asarray(gray) > 128, 0, 255).astype("uint8")))
    frames = [rgb, rgb.rotate(10), rgb.rotate(-10)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 8  # orientation: rotated 90 degrees
    rotated = rgb.rotate(-90, expand=True)
    return [
        ("png-16-bit.png", encode(sixteen, "PNG"), "read"),
        ("png-palette.png", encode(palette, "PNG"), "read"),
        ("png-palette-transparent.png", encode(transparent, "PNG", transparency=0), "read"),
        ("png-rgba.png", encode(rgba, "PNG"), "read"),
        ("png-la.png", encode(rgba.convert("LA"), "PNG"), "read"),
        ("jpeg-cmyk.jpg", encode(rgb.convert("CMYK"), "JPEG"), "read"),
        ("jpeg-gray.jpg", encode(gray, "JPEG"), "read"),
        ("jpeg-exif-rotated.jpg", encode(rotated, "JPEG", exif=exif.tobytes()), "read"),
        ("gif-animated.gif", animated.getvalue(), "read"),
        ("bmp.bmp", encode(rgb, "BMP"), "read"),
        ("webp.webp", encode(rgb, "WEBP", lossless=True), "read"),
        ("one-pixel.png", encode(Image.new("L", (1, 1), 255), "PNG"), "read"),
        ("one-by-500.png", encode(Image.new("RGB", (500, 1), (10, 20, 30)), "PNG"), "read"),
        ("png-1-bit.png", encode(gray.convert("1"), "PNG"), "read"),
        ("png.png", png, "read"),
    ]
