"""Synthetic folder sets that are hard for the folder recipe (docs/real-captchas.md#the-panel).

    .venv/bin/python benchmarks/hard_sets.py [--out data/hard] [--train 2000] [--test 1000]

Writes `<out>/<set>/{train,test}` as labelled PNG folders (`<label>_<index>.png`):

- `dark`: the `captcha` package's look at 320x64 (5:1, longer and thinner than
  any image the base model was trained on, 2:1 to 4.5:1), inverted to light
  strokes on a dark background, with coloured speckles; 6-8 of 32
  characters (alnum_upper without 0, 1, I and O).
- `faint`: the `noisy` style at 200x48, its contrast squeezed into 48
  grey levels around the middle, with Gaussian noise; 6-8 digits.
- `colourful`: 92x34 small JPEGs, 4 of 0-9a-z, each character in its own
  saturated colour over a pale background crossed by thin lines whose grey
  level matches the characters' (so in grey they read as strokes; in colour
  they do not). It imitates a real colourful style we were told about
  (issue 29), drawn by `draw_colourful`, not the synthetic stream.

Train and test images come from different streams of one seed, so no test
captcha is a training one; the transforms are seeded per image.
"""

import argparse
import io
import os

import numpy as np
from PIL import Image

from captcha_keras.data.generate import generated_name
from captcha_keras.data.synthetic import SyntheticCaptchas

SETS = {
    "dark": dict(style="captcha", charset="23456789ABCDEFGHJKLMNPQRSTUVWXYZ", width=320, height=64),
    "faint": dict(style="noisy", charset="digits", width=200, height=48),
}
LENGTHS = (6, 8)
# Sets drawn by a function of their own: (text, rng) -> RGB array, with their label charset and length.
COLOURFUL = dict(charset="0123456789abcdefghijklmnopqrstuvwxyz", length=4, width=92, height=34)


def dark_long(image, rng):
    """Inverted (light on dark), with a few hundred speckles of random colours."""
    image = 255 - image.astype(np.int16)
    count = image.shape[0] * image.shape[1] // 40
    ys, xs = rng.integers(0, image.shape[0], count), rng.integers(0, image.shape[1], count)
    image[ys, xs] = rng.integers(0, 256, (count, 3))
    return image.clip(0, 255).astype(np.uint8)


def faint_digits(image, rng):
    """Contrast squeezed into 48 levels around 128, plus Gaussian noise (sigma 6)."""
    image = 104 + image.astype(np.float32) * (48 / 255)
    image += rng.normal(0, 6, image.shape)
    return image.clip(0, 255).round().astype(np.uint8)


TRANSFORMS = {"dark": dark_long, "faint": faint_digits}


def _colour_with_luminance(rng, low, high, saturated=True):
    """A random RGB colour whose luminance lies in [low, high] (rejection sampling)."""
    for _ in range(1000):
        colour = rng.integers(0, 256, 3)
        if saturated and colour.max() - colour.min() < 110:
            continue
        luminance = colour @ (0.299, 0.587, 0.114)
        if low <= luminance <= high:
            return tuple(int(c) for c in colour)
    return (int((low + high) / 2),) * 3


def draw_colourful(text, rng, width=92, height=34):
    """One `colourful` captcha: each character its own colour, thin lines of the same grey levels across."""
    from PIL import ImageDraw
    from PIL import ImageFont

    from captcha_keras.data.styles import FONTS

    background = tuple(int(c) for c in rng.integers(215, 256, 3))
    image = Image.new("RGB", (width, height), background)
    fonts = [FONTS[0], FONTS[1], FONTS[7]]  # DejaVu Sans, Sans Bold, Serif (as the real style: one family)
    font = ImageFont.truetype(fonts[rng.integers(len(fonts))], int(rng.integers(22, 27)))
    step = (width - 10) / len(text)
    for i, character in enumerate(text):
        colour = _colour_with_luminance(rng, 50, 150)
        left, top, right, bottom = font.getbbox(character)
        tile = Image.new("RGBA", (right - left + 6, bottom - top + 6), (0, 0, 0, 0))
        ImageDraw.Draw(tile).text((3 - left, 3 - top), character, font=font, fill=colour + (255,))
        tile = tile.rotate(float(rng.uniform(-25, 25)), Image.BICUBIC, expand=True)
        x = int(5 + i * step + (step - tile.size[0]) / 2 + rng.uniform(-2.5, 2.5))
        y = int(rng.uniform(0, max(1, height - tile.size[1])))
        image.paste(tile, (max(0, min(x, width - tile.size[0])), max(0, y)), tile)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 8))):
        points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(2)]
        if rng.random() < 0.7:  # mostly across the whole image
            points = [(0, int(rng.integers(0, height))), (width - 1, int(rng.integers(0, height)))]
        draw.line(points, fill=_colour_with_luminance(rng, 40, 140), width=1)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(60, 85)))
    return buffer.getvalue()


def write_colourful(folder, count, stream, seed=0):
    """Writes `count` `colourful` JPEGs into `folder`; skips a folder already full."""
    if not _start_folder(folder, count):
        return
    characters = COLOURFUL["charset"]
    for index in range(count):
        rng = np.random.default_rng([seed, {"train": 0, "test": 1}[stream], index, 29])
        text = "".join(characters[i] for i in rng.integers(0, len(characters), COLOURFUL["length"]))
        name = os.path.splitext(generated_name(text, index, count))[0] + ".jpg"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(draw_colourful(text, rng, COLOURFUL["width"], COLOURFUL["height"]))
    print(f"colourful {stream}: {count:,} images in {folder}")


def _start_folder(folder, count):
    """True when `folder` is empty and ready; False when it holds the set already; exits on anything else."""
    os.makedirs(folder, exist_ok=True)
    held = len(os.listdir(folder))
    if held == count:
        return False  # drawn already: the same seed draws the same images
    if held:
        raise SystemExit(f"{folder} holds {held} images, not {count}: delete it to draw the set again.")
    return True


def write_set(name, folder, count, stream, seed=0, batch_size=128):
    """Writes `count` images of set `name` from `stream` into `folder`; skips a folder already full."""
    if not _start_folder(folder, count):
        return
    settings = SETS[name]
    captchas = SyntheticCaptchas(
        length=LENGTHS,
        batch_size=batch_size,
        seed=seed,
        stream=stream,
        family=None,
        steps=-(-count // batch_size),
        **settings,
    )
    written = 0
    for batch in range(len(captchas)):
        images, texts = captchas.draw_batch(batch)
        for image, text in zip(images, texts):
            if written == count:
                break
            rng = np.random.default_rng([seed, {"train": 0, "test": 1}[stream], written])
            Image.fromarray(TRANSFORMS[name](image, rng)).save(
                os.path.join(folder, generated_name(text, written, count))
            )
            written += 1
    print(f"{name} {stream}: {written:,} images in {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/hard")
    parser.add_argument("--train", type=int, default=2000, help="training images per set (the run validates on 10%%)")
    parser.add_argument("--test", type=int, default=1000, help="held-out images per set")
    args = parser.parse_args()
    for name in SETS:
        write_set(name, os.path.join(args.out, name, "train"), args.train, "train")
        write_set(name, os.path.join(args.out, name, "test"), args.test, "test")
    write_colourful(os.path.join(args.out, "colourful", "train"), args.train, "train")
    write_colourful(os.path.join(args.out, "colourful", "test"), args.test, "test")


if __name__ == "__main__":
    main()
