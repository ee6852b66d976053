"""Synthetic captchas drawn with the `captcha` package (and `styles`), as a Keras PyDataset."""

import threading

import keras
import numpy as np
from captcha.image import ImageCaptcha

from captcha_keras.arithmetic import random_question
from captcha_keras.charset import Charset
from captcha_keras.charset import parse_length
from captcha_keras.data.captcha_randomness import seeded_captcha_randomness
from captcha_keras.data.styles import CJK_FONTS
from captcha_keras.data.styles import arithmetic_operators
from captcha_keras.data.styles import check_glyphs
from captcha_keras.data.styles import check_style
from captcha_keras.data.styles import is_wide
from captcha_keras.data.styles import mix_styles
from captcha_keras.data.styles import render_style
from captcha_keras.data.targets import make_targets
from captcha_keras.data.texts import character_weights
from captcha_keras.data.texts import random_texts

_GENERATORS = threading.local()

# Independent streams of one seed: training, validation and test data never
# share a captcha.
STREAMS = {"train": 0, "validation": 1, "test": 2}


def _generator(width, height, fonts, font_sizes):
    # One ImageCaptcha per thread and size: it caches FreeType fonts, which
    # are not safe to share between threads.
    key = (width, height, tuple(fonts or ()), tuple(font_sizes or ()))
    cache = _GENERATORS.__dict__.setdefault("cache", {})
    if key not in cache:
        cache[key] = ImageCaptcha(
            width=width,
            height=height,
            fonts=list(fonts) if fonts else None,
            font_sizes=tuple(font_sizes) if font_sizes else None,
        )
    return cache[key]


def render_captcha(
    text, seed, width=128, height=64, *, grayscale=False, fonts=None, font_sizes=None, style="captcha", fusion=None
):
    """Draws one captcha, the same pixels for the same arguments.

    Args:
        text: str. The characters to draw.
        seed: int. Seed of every random choice made while drawing.
        width: int. Image width in pixels. Defaults to 128.
        height: int. Image height in pixels. Defaults to 64.
        grayscale: bool. One channel instead of three. Defaults to False.
        fonts: list of str. TTF files; defaults to the package's DroidSansMono.
        font_sizes: tuple of int. Font sizes to pick from; defaults to the
            package's `(42, 50, 56)`.
        style: str. One of `styles.STYLES`; `"captcha"` (the default) is the
            package as it comes, with `fonts` and `font_sizes`.
        fusion: str or None. How a `"gif"` captcha's frames are fused
            (`images.fuse_frames`); None: `images.FUSION`.

    Returns:
        A uint8 array of shape `(height, width, 1 or 3)`.

    Example:

    >>> render_captcha("AB12", seed=0).shape
    (64, 128, 3)
    """
    if style == "captcha":
        if fonts is None and is_wide(text):  # the package's font holds no Chinese: the shipped faces do
            fonts = CJK_FONTS
        for font in fonts if fonts is not None and is_wide(text) else ():
            check_glyphs(font, text)
        generator = _generator(width, height, fonts, font_sizes)
        with seeded_captcha_randomness(seed):
            image = generator.generate_image(text)
    else:
        image = render_style(style, text, seed, width, height, fusion=fusion)
    image = image.convert("L" if grayscale else "RGB")
    array = np.asarray(image, dtype="uint8")
    return array[..., None] if grayscale else array


class SyntheticCaptchas(keras.utils.PyDataset):
    """An endless-looking stream of captchas drawn with `ImageCaptcha`.

    Batch `index` is a pure function of `(seed, stream, index)`: its labels
    and every random choice of the drawing come from
    `numpy.random.default_rng([seed, stream, index])`, so the data does not
    depend on how many workers draw it or in which order.

    Args:
        charset: str or `Charset`. Defaults to `"alnum_upper"`.
        width: int. Image width. Defaults to 128.
        height: int. Image height. Defaults to 64.
        length: int, `(min, max)` or `"4-6"`. Label length. Defaults to 4.
        batch_size: int. Defaults to 128.
        steps: int. Batches per epoch. Defaults to 1000.
        seed: int. Defaults to 0.
        stream: str. `"train"`, `"validation"` or `"test"`: three independent
            streams of one seed. Defaults to `"train"`.
        grayscale: bool. Defaults to False.
        family: str. Targets for `"ctc"` or `"multihead"` models, or None for
            the label texts. Defaults to `"ctc"`.
        fonts: list of str. TTF font files. Defaults to the package's font.
        font_sizes: tuple of int. Defaults to the package's sizes.
        emphasize: str. Characters drawn `emphasis` times as often as the
            others: more examples of pairs a font makes hard to tell apart
            (in the package's font, 0 and O are drawn the same size). Use it
            for training streams only; scores are taken on uniform labels.
        emphasis: float. Defaults to 1.0 (uniform).
        style: str. `"captcha"` (the package as it comes, the default), one
            of `styles.STYLES`, or `"mix"`: each image in a style drawn from
            `styles.mix_styles`. `"arith"` draws arithmetic questions as the
            labels (the charset must spell them).
        fusion: str or None. How `"gif"` captchas' frames are fused, as a
            run's readers fuse them (`RunConfig.fusion`); None: `images.FUSION`.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`, passed
            to `keras.utils.PyDataset`.

    Example:

    >>> data = SyntheticCaptchas(charset="digits", batch_size=2, steps=1)
    >>> images, labels = data[0]
    >>> images.shape, labels.shape
    ((2, 64, 128, 3), (2, 4))
    """

    def __init__(
        self,
        charset="alnum_upper",
        width=128,
        height=64,
        length=4,
        batch_size=128,
        steps=1000,
        seed=0,
        stream="train",
        grayscale=False,
        family="ctc",
        fonts=None,
        font_sizes=None,
        emphasize="",
        emphasis=1.0,
        style="captcha",
        fusion=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.charset = charset if isinstance(charset, Charset) else Charset(charset)
        self.width = width
        self.height = height
        self.min_length, self.max_length = parse_length(length)
        self.batch_size = batch_size
        self.steps = steps
        self.seed = seed
        if stream not in STREAMS:
            raise ValueError(f"Unknown stream. Expected one of {sorted(STREAMS)}. Received: stream={stream!r}")
        self.stream = stream
        self.grayscale = grayscale
        self.family = family
        self.fonts = fonts
        self.font_sizes = font_sizes
        self.weights = character_weights(self.charset.characters, emphasize, emphasis)
        check_style(style, self.charset.characters, self.min_length, self.max_length)
        self.style = style
        self.fusion = fusion

    @property
    def channels(self):
        return 1 if self.grayscale else 3

    def __len__(self):
        return self.steps

    def plan_batch(self, index):
        """What batch `index` draws, before drawing it: `(texts, seeds, styles)`."""
        rng = np.random.default_rng([self.seed, STREAMS[self.stream], index])
        texts = random_texts(
            rng, self.batch_size, self.charset.characters, self.min_length, self.max_length, self.weights
        )
        seeds = rng.integers(0, 2**63, size=self.batch_size)
        styles = self.draw_styles(rng)
        # Arithmetic images show a question, not random characters (drawn
        # after the seeds, so that the other images of a batch keep theirs).
        operators = arithmetic_operators(self.charset.characters)
        texts = [
            random_question(rng, self.min_length, self.max_length, operators) if style == "arith" else text
            for text, style in zip(texts, styles)
        ]
        return texts, seeds, styles

    def draw_batch(self, index):
        """Returns `(uint8 images, label texts)` of batch `index`."""
        texts, seeds, styles = self.plan_batch(index)
        images = np.stack(
            [
                render_captcha(
                    text,
                    int(seed),
                    self.width,
                    self.height,
                    grayscale=self.grayscale,
                    fonts=self.fonts,
                    font_sizes=self.font_sizes,
                    style=style,
                    fusion=self.fusion,
                )
                for text, seed, style in zip(texts, seeds, styles)
            ]
        )
        return images, texts

    def draw_styles(self, rng):
        """The style of each image of a batch (after its texts and seeds, from the batch's `rng`)."""
        if self.style != "mix":
            return [self.style] * self.batch_size
        choices = mix_styles(self.charset.characters, self.min_length, self.max_length)
        return [choices[i] for i in rng.integers(0, len(choices), size=self.batch_size)]

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"Batch index out of range. Received: index={index}, steps={self.steps}")
        images, texts = self.draw_batch(index)
        images = images.astype("float32")
        if self.family is None:
            return images, texts
        return images, make_targets(texts, self.charset, self.family, self.max_length)


def draw_one_batch(dataset, index):
    """`dataset.draw_batch(index)` as a plain function, for process pools."""
    return dataset.draw_batch(index)


def drawing_pool(workers):
    """A pool of `workers` processes for `draw_batches`, to reuse across calls.

    Forked, as Keras' own PyDataset does: the children only draw with PIL and
    numpy, and start at once.
    """
    import concurrent.futures
    import multiprocessing

    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def draw_batches(dataset, indices=None, workers=1, progress=None, pool=None):
    """Draws many batches, in parallel processes, into one array.

    Args:
        dataset: `SyntheticCaptchas`.
        indices: iterable of int. Batches to draw; defaults to all.
        workers: int. Processes, started for this call when no `pool` is
            given. Defaults to 1 (this process).
        progress: str or None. A progress bar description; None for none.
        pool: `drawing_pool` or None. Processes to draw in, kept by the
            caller, which saves starting them on every call.

    Returns:
        `(uint8 images, texts)` of all batches in order.
    """
    from tqdm.auto import tqdm

    indices = list(range(len(dataset)) if indices is None else indices)
    if pool is None and workers > 1 and len(indices) > 1:
        with drawing_pool(workers) as own:
            return draw_batches(dataset, indices, progress=progress, pool=own)
    bar = tqdm(total=len(indices) * dataset.batch_size, desc=progress, unit="img", disable=progress is None)
    results = []
    if pool is not None:
        futures = [pool.submit(draw_one_batch, dataset, i) for i in indices]
        batches = (future.result() for future in futures)
    else:
        batches = (dataset.draw_batch(i) for i in indices)
    for batch in batches:
        results.append(batch)
        bar.update(dataset.batch_size)
    bar.close()
    images = np.concatenate([r[0] for r in results])
    texts = [t for r in results for t in r[1]]
    return images, texts


def draw_test_set(run_config, samples, seed, workers=2, batch_size=250, style=None, stream="test"):
    """Fresh captchas from the test stream of `seed` (or another `stream`), drawn as the run was
    trained (in its style, or `style`)."""
    batch_size = min(batch_size, samples)
    data = SyntheticCaptchas(
        charset=run_config.charset,
        width=run_config.width,
        height=run_config.height,
        length=(run_config.min_length, run_config.max_length),
        grayscale=run_config.grayscale,
        seed=seed,
        stream=stream,
        batch_size=batch_size,
        steps=-(-samples // batch_size),
        family=None,
        style=style or run_config.style,
        fusion=run_config.fusion,
    )
    images, texts = draw_batches(data, workers=workers, progress=f"{stream} captchas")
    return images[:samples], texts[:samples]
