"""Training batches from a folder of real captchas, optionally mixed with synthetic ones."""

import keras
import numpy as np

from captcha_keras.data.targets import make_targets


class FolderCaptchas(keras.utils.PyDataset):
    """Shuffled, augmented batches of a `FolderData` held in memory.

    Batch `i` of epoch `e` is a pure function of `(seed, e, i)`: the order
    comes from `default_rng([seed, e])` and the augmentation of batch `i`
    from `default_rng([seed, e, i])`.

    Args:
        data: `FolderData`. Real images and labels.
        charset: `Charset`. The model's alphabet.
        family: str. `"ctc"` or `"multihead"` targets.
        max_length: int. The model's longest label.
        batch_size: int. Images per batch. Defaults to 128.
        steps: int or None. Batches per epoch; by default one pass over the
            data, and at least `min_steps` so that tiny sets still make
            epochs long enough for early stopping to mean something.
        augmentation: callable `(images, rng) -> images`, or None.
        synthetic: `CachedCaptchas` or None. A refreshed pool of synthetic
            captchas of the same size and charset to mix in.
        synthetic_ratio: float. Share of each batch taken from `synthetic`.
        seed: int. Shuffling and augmentation seed.
        min_steps: int. Fewest batches per epoch. Defaults to 100 (12,800
            images at batch 128), so an epoch of a tiny set is still enough
            training for EarlyStopping's patience to mean something.
    """

    def __init__(
        self,
        data,
        charset,
        family,
        max_length,
        batch_size=128,
        steps=None,
        augmentation=None,
        synthetic=None,
        synthetic_ratio=0.0,
        seed=0,
        min_steps=100,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= synthetic_ratio < 1.0:
            raise ValueError(f"synthetic_ratio is in [0, 1). Received: {synthetic_ratio}")
        if synthetic_ratio and synthetic is None:
            raise ValueError("A synthetic_ratio needs a synthetic pool to draw from.")
        self.data = data
        self.charset = charset
        self.family = family
        self.max_length = max_length
        self.batch_size = batch_size
        self.synthetic = synthetic
        self.synthetic_count = int(round(batch_size * synthetic_ratio)) if synthetic is not None else 0
        self.real_count = batch_size - self.synthetic_count
        self.steps = steps or max(min_steps, -(-len(data.files) // self.real_count))
        self.augmentation = augmentation
        self.seed = seed
        self._epoch = 0
        self._order = self._shuffle()

    def __len__(self):
        return self.steps

    def _shuffle(self):
        rng = np.random.default_rng([self.seed, self._epoch])
        count = len(self.data.files)
        needed = self.steps * self.real_count
        repeats = -(-needed // count)
        return np.concatenate([rng.permutation(count) for _ in range(repeats)])[:needed]

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"Batch index out of range. Received: index={index}, steps={self.steps}")
        rng = np.random.default_rng([self.seed, self._epoch, index])
        picks = self._order[index * self.real_count : (index + 1) * self.real_count]
        images = self.data.images[picks]
        texts = [self.data.texts[i] for i in picks]
        if self.augmentation is not None:
            images = self.augmentation(images, rng)
        if self.synthetic_count:
            pool = self.synthetic
            synthetic = rng.integers(0, len(pool.texts), self.synthetic_count)
            images = np.concatenate([images, pool.images[synthetic]])
            texts = texts + [pool.texts[i] for i in synthetic]
        targets = make_targets(texts, self.charset, self.family, self.max_length)
        return images.astype("float32"), targets

    def on_epoch_begin(self):
        if self.synthetic is not None:
            self.synthetic.on_epoch_begin()

    def close(self):
        """Stops the synthetic pool's drawing processes, if any."""
        if self.synthetic is not None:
            self.synthetic.close()

    def on_epoch_end(self):
        if self.synthetic is not None:
            self.synthetic.on_epoch_end()
        self._epoch += 1
        self._order = self._shuffle()
