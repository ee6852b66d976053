"""Synthetic folder sets that are hard for the folder recipe (docs/real-captchas.md#the-panel).

    .venv/bin/python benchmarks/hard_sets.py [--out data/hard] [--train 2000] [--test 1000]

Writes `<out>/<set>/{train,test}` as labelled PNG folders (`<label>_<index>.png`):

- `dark`: the `captcha` package's look at 320x64 (5:1, longer and thinner than
  any image the base model was trained on, 2:1 to 4.5:1), inverted to light
  strokes on a dark background, with coloured speckles; 6-8 of 32
  characters (alnum_upper without 0, 1, I and O).
- `faint`: the `noisy` style at 200x48, its contrast squeezed into 48
  grey levels around the middle, with Gaussian noise; 6-8 digits.

Train and test images come from different streams of one seed, so no test
captcha is a training one; the transforms are seeded per image.
"""

import argparse
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


def write_set(name, folder, count, stream, seed=0, batch_size=128):
    """Writes `count` images of set `name` from `stream` into `folder`; skips a folder already full."""
    os.makedirs(folder, exist_ok=True)
    held = len(os.listdir(folder))
    if held == count:
        return  # drawn already: the same seed draws the same images
    if held:
        raise SystemExit(f"{folder} holds {held} images, not {count}: delete it to draw the set again.")
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


if __name__ == "__main__":
    main()
