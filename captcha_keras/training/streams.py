"""The data a run trains and validates on: synthetic streams and pools, or a folder."""

from captcha_keras.data.augment import Augmentation
from captcha_keras.data.cache import CachedCaptchas
from captcha_keras.data.folder_stream import FolderCaptchas
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.training.config import FOLDER_MIN_STEPS
from captcha_keras.training.config import FOLDER_MIN_STEPS_FROM_TRAINED


def synthetic_settings(config, charset):
    """`SyntheticCaptchas` arguments that draw captchas as this run reads them."""
    return dict(
        charset=charset,
        width=config.width,
        height=config.height,
        length=(config.min_length, config.max_length),
        grayscale=config.grayscale,
        seed=config.seed,
        batch_size=config.batch_size,
        style=config.style,
    )


def training_source(config, charset, **kwargs):
    """The synthetic training stream: `config.emphasize`d characters (as
    `resolve_inputs` settled them) drawn more often."""
    settings = dict(synthetic_settings(config, charset), **kwargs)
    if config.emphasize and config.emphasis != 1.0:
        print(
            f"Training captchas draw {config.emphasize} {config.emphasis:g}x as often as the other characters "
            "(--emphasize none for uniform labels; scores are always on uniform labels)."
        )
    return SyntheticCaptchas(emphasize=config.emphasize, emphasis=config.emphasis, **settings)


def redraw_in_background():
    """Whether the pool is redrawn while epochs train: on a GPU, whose CPU is
    otherwise idle; not on a CPU that trains on every core, where drawing
    beside the trainer slows it far more than drawing between epochs does
    (`CachedCaptchas`)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def make_data(config, charset, splits=None):
    """The training stream and the fixed validation arrays of a run."""
    if splits is not None:
        return make_folder_data(config, charset, splits)
    common = synthetic_settings(config, charset)
    if config.cache_size:
        source = training_source(config, charset, steps=1, family=None, batch_size=256)
        train = CachedCaptchas(
            source,
            pool_size=config.cache_size,
            batch_size=config.batch_size,
            steps=config.steps,
            refresh=config.refresh,
            workers=config.workers,
            family=config.family,
            background=redraw_in_background(),
        )
    else:
        train = training_source(
            config,
            charset,
            steps=config.steps,
            family=config.family,
            workers=config.workers,
            use_multiprocessing=config.workers > 1,
        )
    validation = SyntheticCaptchas(steps=config.val_steps, stream="validation", family=None, **common)
    images, texts = draw_batches(validation, workers=config.workers, progress="validation captchas")
    return train, images, texts


def make_folder_data(config, charset, splits):
    """Batches of the training folder (augmented, optionally mixed with a
    synthetic pool) and the validation folder's arrays."""
    synthetic = None
    if config.synthetic_ratio:
        source = training_source(config, charset, steps=1, family=None, batch_size=256)
        synthetic = CachedCaptchas(
            source,
            pool_size=config.cache_size or 8192,
            refresh=config.refresh,
            workers=config.workers,
            family=config.family,
            background=redraw_in_background(),
        )
    train = FolderCaptchas(
        splits.train,
        charset,
        config.family,
        config.max_length,
        batch_size=config.batch_size,
        steps=config.steps,
        augmentation=Augmentation() if config.augment else None,
        synthetic=synthetic,
        synthetic_ratio=config.synthetic_ratio,
        seed=config.seed,
        min_steps=FOLDER_MIN_STEPS_FROM_TRAINED if config.init_from else FOLDER_MIN_STEPS,
    )
    return train, splits.validation.images, splits.validation.texts
