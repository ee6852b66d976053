"""Captcha looks beyond the `captcha` package's one: fonts, colours, strokes, noise, arithmetic.

Every style draws one image from `(text, seed, width, height)` alone, with a
`random.Random(seed)` (and the package's seeded `secrets` stand-in for the
`captcha`-based styles), so a stream stays a pure function of its seed.

Styles (`STYLES`; `--style mix` draws each image in one of `MIX`):

- `captcha`: the `captcha` package as it comes (DroidSansMono, its noise).
- `fonts`: the `captcha` package with one of `FONTS` per image and its drawing
  parameters varied (rotation, warp, spacing, dots and arcs), some inverted
  to light-on-dark, drawn at aspect ratios from 2:1 to 4.5:1.
- `clean`: glyphs laid out by this module: solid, per-character or one colour,
  light or dark, plain or gradient backgrounds, a wave sometimes.
- `noisy`: `clean` under lines, a grid, speckles and arcs.
- `hollow`: outlined glyphs.
- `dotted`: glyphs drawn as a dot screen.
- `gif`: animated captchas in the `clean` or `noisy` look, 3 to 8 frames in
  which each character shows clearly in some frames only (faded in the
  others) and no frame shows them all, noise moving between frames
  (`render_animation`; `render_style` returns the frames fused as every
  reader fuses a GIF's, `images.load_image`).
- `arith`: arithmetic captchas (`3+8=?`, `12-5=`, and `7x6` when the charset
  holds `x`), whose text is the question (`captcha_keras.arithmetic` answers it).

Every style but `captcha` and `gif` may then be blurred and JPEG-compressed
(`_finish`; a GIF's own palette is its artefact).
"""

import functools
import io
import os
import random
import string
import threading
import unicodedata

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFilter
from PIL import ImageFont
from PIL import ImageOps

from captcha_keras import arithmetic
from captcha_keras.images import load_image

FONT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts")
FONT_NAMES = (
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSans-ExtraLight",
    "DejaVuSansCondensed-Bold",
    "DejaVuSansMono",
    "DejaVuSansMono-BoldOblique",
    "DejaVuSerif",
    "DejaVuSerif-Bold",
    "DejaVuSerif-Italic",
    "DejaVuSerifCondensed-BoldItalic",
)
FONTS = tuple(os.path.join(FONT_DIR, f"{name}.ttf") for name in FONT_NAMES)
# Three faces of Chinese, subset to GB2312's level-1 hanzi and 0-9A-Za-z (fonts/cjk/README.md):
# a brush (kai), a serif (ming) and a sans. Text with any Chinese character is drawn in them.
CJK_FONT_DIR = os.path.join(FONT_DIR, "cjk")
CJK_FONT_NAMES = ("ukai", "uming", "wqy-microhei")
CJK_FONTS = tuple(os.path.join(CJK_FONT_DIR, f"{name}.ttf") for name in CJK_FONT_NAMES)

MIX = ("captcha", "fonts", "clean", "noisy", "hollow", "dotted")
STYLES = MIX + ("gif", "arith")
STYLE_CHOICES = STYLES + ("mix",)

# Glyphs are drawn this big and scaled down to the image: small sizes would
# quantise rotations and outlines.
_GLYPH_SIZE = 48
_LOCAL = threading.local()


# What the shipped font subsets can draw (fonts/README.md).
FONT_CHARACTERS = string.digits + string.ascii_letters + "+-=?x "
ARITHMETIC_CHARACTERS = arithmetic.CHARACTERS
ARITHMETIC_LENGTHS = arithmetic.LENGTHS


def check_style(style, characters, min_length=1, max_length=8):
    """Raises ValueError for an unknown style, a charset the style cannot draw
    (the shipped fonts hold `FONT_CHARACTERS`), or `arith` with a charset or
    lengths its questions do not fit."""
    if style not in STYLE_CHOICES:
        raise ValueError(f"Unknown style. Expected one of {', '.join(STYLE_CHOICES)}. Received: style={style!r}")
    if is_wide(characters):
        # Chinese text is drawn in CJK_FONTS, every style but arith: a character none holds would be an empty box.
        missing = sorted(set(characters) - cjk_characters())
        if missing or style == "arith":
            raise ValueError(
                f"No synthetic style draws {''.join(missing[:10])!r}{'...' if len(missing) > 10 else ''}: the "
                "shipped Chinese fonts hold GB2312's level-1 hanzi (--charset hanzi) and 0-9A-Za-z; train on "
                "labelled captchas of other characters with --data."
                if missing
                else "--style arith draws questions of digits, not Chinese characters."
            )
        return
    undrawable = sorted(set(characters) - set(FONT_CHARACTERS))
    if style != "captcha" and undrawable:
        raise ValueError(
            f"--style {style} draws with fonts that hold 0-9, A-Z, a-z and + - = ?, not "
            f"{''.join(undrawable)!r}: use --style captcha for this charset."
        )
    if style != "arith":
        return
    missing = sorted(set(ARITHMETIC_CHARACTERS) - set(characters))
    if missing:
        raise ValueError(
            f"--style arith draws questions such as 3+8=?, but the charset lacks {''.join(missing)!r}: "
            f"use --charset '{ARITHMETIC_CHARACTERS}'."
        )
    low, high = ARITHMETIC_LENGTHS
    if max_length < low or min_length > high:
        raise ValueError(
            f"--style arith draws questions of {low} to {high} characters; "
            f"--length {min_length}-{max_length} leaves none. Use --length 3-7."
        )


def is_wide(text):
    """Whether `text` holds a wide (CJK) character, which the CJK fonts draw."""
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in text)


def fonts_for(text):
    """The shipped fonts that draw `text`: `CJK_FONTS` when it holds Chinese, else `FONTS`."""
    return CJK_FONTS if is_wide(text) else FONTS


@functools.cache
def font_characters(path):
    """The characters a font file has glyphs for (its cmap), read once."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(map(chr, font.getBestCmap()))


@functools.cache
def cjk_characters():
    """What every shipped Chinese font draws (empty when they are missing)."""
    if not all(os.path.isfile(path) for path in CJK_FONTS):
        return frozenset()
    return frozenset.intersection(*(font_characters(path) for path in CJK_FONTS))


def check_glyphs(path, text):
    """Raises ValueError when the font at `path` has no glyph for a character of `text`: drawn, it
    would be an empty box (or nothing), and the label would lie."""
    missing = sorted(set(text) - font_characters(path) - {" "})
    if missing:
        raise ValueError(f"{os.path.basename(path)} has no glyph for {''.join(missing)!r}: it cannot draw {text!r}.")


def arithmetic_operators(characters):
    """The operators `arith` draws with this charset: `+ -`, and `x` when it holds `x`."""
    return "".join(op for op in arithmetic.OPERATORS if op in characters)


def mix_styles(characters, min_length=1, max_length=8):
    """The styles `mix` draws from: `arith` too when the charset spells its questions at these lengths."""
    low, high = ARITHMETIC_LENGTHS
    fits = set(ARITHMETIC_CHARACTERS) <= set(characters) and max_length >= low and min_length <= high
    return MIX + (("arith",) if fits else ())


def render_style(style, text, seed, width, height, fusion=None):
    """Draws `text` in `style` (one of `STYLES` but `captcha`, which `synthetic.render_captcha`
    draws); returns an RGB PIL image of `(width, height)` (`gif`: its frames fused by `fusion`,
    `images.load_image`)."""
    rng = random.Random(seed)
    if style == "fonts":
        image = _draw_fonts(rng, text, seed, width, height)
    elif style in ("clean", "noisy", "hollow", "dotted", "arith"):
        image = _draw_own(rng, text, width, height, style)
    elif style == "gif":
        # What a reader makes of the GIF file: its palette, then the frames fused.
        return load_image(encode_animation(render_animation(text, seed, width, height)), fusion=fusion).convert("RGB")
    else:
        raise ValueError(f"Unknown style. Expected one of {', '.join(STYLES)}. Received: style={style!r}")
    return _finish(rng, image)


def render_animation(text, seed, width, height):
    """The frames of `text` as an animated captcha (`gif`): a list of RGB PIL images.

    Each character is drawn clearly in a random part of the frames and faded
    (opacity 0-25%) in the others, so that no single frame shows the whole
    text; the layout stays, the noise moves.
    """
    rng = random.Random(seed)
    count = rng.randint(3, 8)
    shown = _blinks(rng, len(text), count)
    background, colours = _colours(rng, rng.random() < 0.25)
    canvas = _background(rng, width, height, background)
    layout = _layout(rng, text, colours, "solid")
    full = _compose(layout)
    target_h = rng.uniform(0.5, 0.88) * height
    scale_w = target_h / full.size[1] * full.size[0] * rng.uniform(0.8, 1.3)
    size = (max(1, int(min(scale_w, rng.uniform(0.75, 0.97) * width))), max(1, int(target_h)))
    x, y = rng.randint(0, max(0, width - size[0])), rng.randint(0, max(0, height - size[1]))
    noisy = rng.random() < 0.5
    frames = []
    for visible in shown:
        frame_rng = random.Random(rng.getrandbits(64))
        layer = _compose(layout, [1.0 if v else frame_rng.uniform(0.0, 0.25) for v in visible])
        layer = layer.resize(size, Image.LANCZOS)
        frame = canvas.copy()
        frame.paste(layer, (x, y), layer)
        if noisy:
            _noise(frame_rng, frame, colours, width, height)
        frames.append(frame)
    return frames


def _blinks(rng, characters, frames):
    """Which characters each frame shows clearly: `frames` lists of `characters` bools, each
    character in at least one frame and no frame with them all."""
    for _ in range(100):
        shown = [[rng.random() < 0.5 for _ in range(characters)] for _ in range(frames)]
        if all(any(f[c] for f in shown) for c in range(characters)) and not any(all(f) for f in shown):
            return shown
    # Rarely reached (one character, few frames): one frame after the other.
    return [[c % frames == f for c in range(characters)] for f in range(frames)]


def encode_animation(frames, duration=120):
    """The frames as an animated GIF file's bytes (looping, `duration` ms a frame)."""
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return buffer.getvalue()


def _font(path, size):
    # FreeType faces are not safe to share between threads: one cache each.
    cache = _LOCAL.__dict__.setdefault("fonts", {})
    if (path, size) not in cache:
        cache[(path, size)] = ImageFont.truetype(path, size)
    return cache[(path, size)]


def _draw_fonts(rng, text, seed, width, height):
    from captcha.image import ImageCaptcha

    from captcha_keras.data.captcha_randomness import seeded_captcha_randomness

    aspect = rng.uniform(2.0, 4.5)
    native_w = max(width, int(round(height * aspect)))
    font = rng.choice(fonts_for(text))
    if is_wide(text):
        check_glyphs(font, text)
    sizes = tuple(int(height * f) for f in (0.62, 0.72, 0.82))
    cache = _LOCAL.__dict__.setdefault("captchas", {})
    key = (native_w, height, font)
    if key not in cache:
        cache[key] = ImageCaptcha(width=native_w, height=height, fonts=[font], font_sizes=sizes)
    generator = cache[key]
    # Instance attributes shadow the class's drawing parameters, per image.
    rotate = rng.uniform(0, 40)
    generator.character_rotate = (-rotate, rotate)
    generator.character_warp_dx = (0.05, rng.uniform(0.1, 0.4))
    generator.character_warp_dy = (0.05, rng.uniform(0.1, 0.4))
    generator.word_space_probability = rng.uniform(0.4, 1.0)
    generator.word_offset_dx = rng.uniform(0.05, 0.35)
    with seeded_captcha_randomness(seed):
        image = generator.generate_image(text)
    if rng.random() < 0.25:
        image = ImageOps.invert(image)
    return image.resize((width, height), Image.BILINEAR)


def _luminance(colour):
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b


def _colours(rng, dark):
    """A background colour and a far-off ink colour drawer: at least 90 levels apart in luminance."""
    gray = rng.random() < 0.3
    level = rng.randint(0, 70) if dark else rng.randint(185, 255)
    background = (level,) * 3 if gray else tuple(min(255, max(0, level + rng.randint(-40, 40))) for _ in range(3))

    def ink():
        for _ in range(100):
            colour = tuple(rng.randint(0, 255) for _ in range(3))
            if gray:
                colour = (colour[0],) * 3
            if abs(_luminance(colour) - _luminance(background)) >= 90:
                return colour
        return (255, 255, 255) if dark else (0, 0, 0)

    return background, ink


def _background(rng, width, height, background):
    kind = rng.random()
    if kind < 0.5:
        return Image.new("RGB", (width, height), background)
    if kind < 0.8:  # a linear gradient towards a nearby colour
        other = tuple(min(255, max(0, c + rng.randint(-60, 60))) for c in background)
        t = np.linspace(0, 1, width if rng.random() < 0.7 else height)
        ramp = np.outer(t, np.subtract(other, background)) + background
        ramp = ramp[None] if len(t) == width else ramp[:, None]
        array = np.broadcast_to(ramp, (height, width, 3))
        return Image.fromarray(array.astype("uint8"))
    # a blurred speckle texture around the colour
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 25, (height, width, 1))
    array = np.clip(np.asarray(background, "float32") + noise, 0, 255).astype("uint8")
    return Image.fromarray(array).filter(ImageFilter.GaussianBlur(1.0))


def _glyph(rng, character, font, colour, stroke):
    """One character on a transparent tile, rotated."""
    left, top, right, bottom = font.getbbox(character, stroke_width=4)
    tile = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    origin = (4 - left, 4 - top)
    if stroke == "hollow":
        width = rng.randint(1, 3)
        draw.text(origin, character, font=font, fill=(0, 0, 0, 0), stroke_width=width, stroke_fill=colour + (255,))
        # The stroke is drawn first, then the fill erases the glyph's inside.
        draw.text(origin, character, font=font, fill=(0, 0, 0, 0))
    else:
        draw.text(origin, character, font=font, fill=colour + (255,))
    if stroke == "dotted":
        alpha = np.asarray(tile.getchannel("A"))
        step = rng.randint(3, 5)
        yy, xx = np.mgrid[: alpha.shape[0], : alpha.shape[1]]
        dots = (
            ((yy % step) < step - 1) & ((xx % step) < step - 1)
            if rng.random() < 0.5
            else ((yy + xx) % step == 0) | ((yy - xx) % step == 0)
        )
        tile.putalpha(Image.fromarray((alpha * dots).astype("uint8")))
    tile = tile.rotate(rng.uniform(-25, 25), Image.BICUBIC, expand=True)
    return tile.crop(tile.getbbox() or (0, 0, 1, 1))


def _text_layer(rng, text, colours, stroke):
    """The text's glyphs side by side on one transparent layer, sometimes waved."""
    return _compose(_layout(rng, text, colours, stroke))


def _layout(rng, text, colours, stroke):
    """Where each glyph of the text goes on its layer, and the layer's wave: every random choice
    of `_text_layer`, so that `_compose` can draw the same text with some glyphs faded."""
    path = rng.choice(fonts_for(text))
    if is_wide(text):
        check_glyphs(path, text)
    font = _font(path, _GLYPH_SIZE)
    one_colour = rng.random() < 0.6
    first = colours()
    glyphs = [_glyph(rng, c, font, first if one_colour else colours(), stroke) for c in text]
    spacing = rng.uniform(-0.15, 0.35)
    widths = [g.size[0] for g in glyphs]
    gap = int(spacing * np.mean(widths))
    height = max(g.size[1] for g in glyphs) + _GLYPH_SIZE // 4
    total = sum(widths) + gap * (len(glyphs) - 1) + 8
    x, places = 4, []
    for glyph in glyphs:
        y = (height - glyph.size[1]) // 2 + rng.randint(-_GLYPH_SIZE // 10, _GLYPH_SIZE // 10)
        places.append((max(0, x), max(0, min(y, height - glyph.size[1]))))
        x += glyph.size[0] + gap
    wave = None
    if rng.random() < 0.35:  # a sine wave along the text: amplitude and period as shares of the cropped layer
        wave = (rng.uniform(0, 1), rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi))
    return glyphs, places, (max(total, 8), height), wave


def _compose(layout, alphas=None):
    """The layer of a `_layout`, each glyph's opacity times its `alphas` entry (all 1 by default)."""
    glyphs, places, size, wave = layout
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    box = None
    for i, (glyph, place) in enumerate(zip(glyphs, places)):
        if alphas is not None and alphas[i] < 1:
            glyph = glyph.copy()
            glyph.putalpha(glyph.getchannel("A").point(lambda a, k=alphas[i]: round(a * k)))
        layer.alpha_composite(glyph, place)
        if glyphs[i].getbbox() is None:  # a space: nothing to keep in the crop
            continue
        # The crop is the glyphs' boxes, faded or not, so that every frame of an animation keeps one geometry.
        edges = (*place, place[0] + glyph.size[0], place[1] + glyph.size[1])
        box = edges if box is None else (*map(min, box[:2], edges[:2]), *map(max, box[2:], edges[2:]))
    box = box or (0, 0, 1, 1)
    layer = layer.crop((max(0, box[0]), max(0, box[1]), min(size[0], box[2]), min(size[1], box[3])))
    if wave is not None:
        array = np.asarray(layer)
        amplitude = 1 + wave[0] * (0.12 * array.shape[0] - 1)
        period = wave[1] * array.shape[1]
        padded = np.pad(array, ((int(amplitude) + 1,) * 2, (0, 0), (0, 0)))
        shifts = (amplitude * np.sin(2 * np.pi * np.arange(array.shape[1]) / period + wave[2])).astype(int)
        waved = np.stack([np.roll(padded[:, i], s, axis=0) for i, s in enumerate(shifts)], axis=1)
        layer = Image.fromarray(waved)
    return layer


def _noise(rng, image, colours, width, height):
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        colour = colours()
        if kind < 0.35:  # lines across
            points = [
                (rng.randint(0, width // 4), rng.randint(0, height)),
                (rng.randint(3 * width // 4, width), rng.randint(0, height)),
            ]
            draw.line(points, fill=colour, width=rng.randint(1, 3))
        elif kind < 0.55:  # arcs
            x0, y0 = rng.randint(-width // 4, width // 2), rng.randint(-height, height // 2)
            box = [x0, y0, x0 + rng.randint(width // 2, width), y0 + rng.randint(height, 2 * height)]
            draw.arc(box, rng.randint(0, 180), rng.randint(180, 360), fill=colour, width=rng.randint(1, 2))
        elif kind < 0.75:  # speckles
            for _ in range(rng.randint(30, 200)):
                x, y = rng.randint(0, width - 1), rng.randint(0, height - 1)
                draw.point((x, y), fill=colour)
        else:  # a grid
            step = rng.randint(6, 16)
            for x in range(rng.randint(0, step), width, step):
                draw.line([(x, 0), (x, height)], fill=colour)
            for y in range(rng.randint(0, step), height, step):
                draw.line([(0, y), (width, y)], fill=colour)


def _draw_own(rng, text, width, height, style):
    dark = rng.random() < 0.25
    background, colours = _colours(rng, dark)
    image = _background(rng, width, height, background)
    stroke = {"hollow": "hollow", "dotted": "dotted"}.get(style, "solid")
    layer = _text_layer(rng, text, colours, stroke)
    # Fit the text in the image: a share of its height, squeezed or stretched
    # within what the width allows (real captchas range from tall to wide glyphs).
    target_h = rng.uniform(0.5, 0.88) * height
    scale_w = target_h / layer.size[1] * layer.size[0] * rng.uniform(0.8, 1.3)
    target_w = min(scale_w, rng.uniform(0.75, 0.97) * width)
    layer = layer.resize((max(1, int(target_w)), max(1, int(target_h))), Image.LANCZOS)
    if style == "noisy" and rng.random() < 0.5:
        _noise(rng, image, colours, width, height)  # under the text
    x = rng.randint(0, max(0, width - layer.size[0]))
    y = rng.randint(0, max(0, height - layer.size[1]))
    image.paste(layer, (x, y), layer)
    if style == "noisy":
        _noise(rng, image, colours, width, height)
    return image


def _finish(rng, image):
    """Blur and JPEG artefacts, each on about a third of the images."""
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(15, 75))
        buffer.seek(0)
        image = Image.open(buffer).convert("RGB")
    return image
