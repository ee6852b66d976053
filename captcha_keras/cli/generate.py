"""Write a folder of synthetic captchas named <label>_<index>.png.

    python scripts/generate.py --out data/synthetic --count 100000 --charset digits --length 4-6 --seed 1
    python scripts/generate.py --out data/mix --count 1000 --charset alnum --length 4-8 --width 192 --style mix

Each file is named after its label; the seed fixes every pixel.
"""

import argparse

from captcha_keras.cli.flags import HelpFormatter


def parse_args(argv=None):
    from captcha_keras.charset import DEFAULT_CHARSET
    from captcha_keras.charset import PRESETS
    from captcha_keras.data.styles import STYLE_CHOICES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--count", type=int, required=True, help="images to write")
    p.add_argument("--charset", default=DEFAULT_CHARSET, help=f"a preset ({', '.join(PRESETS)}) or literal characters")
    p.add_argument("--width", type=int, default=128, help="image width in pixels")
    p.add_argument("--height", type=int, default=64, help="image height in pixels")
    p.add_argument("--length", default="4", help="label length: 4, or a range such as 4-6")
    p.add_argument("--seed", type=int, default=0, help="the same seed draws the same captchas")
    p.add_argument(
        "--stream",
        default="train",
        choices=("train", "validation", "test"),
        help="independent streams of one seed; a training run with this seed draws 'train'",
    )
    p.add_argument("--grayscale", action="store_true", help="one-channel images")
    p.add_argument(
        "--style",
        default="captcha",
        choices=STYLE_CHOICES,
        help="captcha = the captcha package as it comes; a style of docs/styles.md (gif writes animated "
        ".gif files); mix = each image in one of them (arith needs --charset '0123456789+-=?')",
    )
    p.add_argument("--workers", type=int, default=2, help="processes drawing and writing")
    p.add_argument("--force", action="store_true", help="write into a folder that already holds images")
    p.add_argument("--grid", help="also draw the first 8 images with their labels into this PNG")
    return p.parse_args(argv)


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.data.generate import generate_folder

    args = parse_args(argv)
    try:
        result = generate_folder(
            args.out,
            args.count,
            charset=args.charset,
            width=args.width,
            height=args.height,
            length=args.length,
            seed=args.seed,
            stream=args.stream,
            grayscale=args.grayscale,
            workers=args.workers,
            force=args.force,
            style=args.style,
        )
    except (FileExistsError, ValueError, OSError) as error:
        fail(error)
    print(result.summary())
    if args.grid:
        write_grid(args)
    return 0


def write_grid(args):
    """Draws the folder's first images (batch 0 of the same stream) with their labels."""
    from PIL import Image

    from captcha_keras.data.synthetic import SyntheticCaptchas
    from captcha_keras.plots import plot_predictions

    data = SyntheticCaptchas(
        charset=args.charset,
        width=args.width,
        height=args.height,
        length=args.length,
        seed=args.seed,
        stream=args.stream,
        grayscale=args.grayscale,
        family=None,
        style=args.style,
        steps=1,
    )
    images, texts = data.draw_batch(0)
    count = min(8, args.count)
    plot_predictions(images[:count], None, texts[:count], args.grid, title=f"--style {args.style}")
    # 128 colours: a fifth of the bytes, and the grid is only for looking at.
    with Image.open(args.grid) as grid:
        small = grid.convert("RGB").quantize(128)
    small.save(args.grid, optimize=True)
    print(f"Grid of the first {count} images: {args.grid}")
