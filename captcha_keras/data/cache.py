"""A pool of drawn captchas, partly redrawn each epoch as training goes on.

Drawing one 128x64 captcha costs about 1.5 ms of a CPU core; a small model
on a 2-core CPU trains on several hundred images a second, so drawing every
training image afresh would starve the trainer. The pool keeps training on
drawn images and replaces a fraction of them each epoch (between epochs, or
in a background process while the epoch trains), so the model keeps seeing
new captchas.
"""

import time

import keras
import numpy as np

from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.data.synthetic import draw_one_batch
from captcha_keras.data.synthetic import drawing_pool
from captcha_keras.data.targets import make_targets


class CachedCaptchas(keras.utils.PyDataset):
    """Batches from a refreshed pool of synthetic captchas.

    The pool's content at each epoch and the order of its batches are pure
    functions of the seed: epoch `e` shuffles with `default_rng([seed, e])`,
    and the redrawn images are the next batches of the `source` stream.

    Args:
        source: `SyntheticCaptchas`. What to draw; its `batch_size` is the
            drawing chunk.
        pool_size: int. Images held in memory (uint8). Defaults to 65,536.
        batch_size: int. Training batch size. Defaults to 128.
        steps: int. Batches per epoch; defaults to one pass over the pool.
        refresh: float. Fraction of the pool redrawn each epoch. Defaults to 0.125.
        workers: int. Processes drawing the first pool, and each epoch's
            redraw unless `background`; started once and kept until `close`
            (forking them anew for each redraw cost about 0.2 s: 1.8 s
            instead of 1.6 s for 2,048 captchas). Defaults to 2.
        background: bool. Redraw in one background process while the epoch
            trains, instead of with `workers` processes between epochs. On a
            CPU that trains on every core, background drawing slows the
            trainer far more than the drawing costs (its threads wait on
            each other whenever one is preempted): on this project's 2-core
            CPU an epoch took 1.4x to 2.1x as long. Defaults to False.
        family: str. `"ctc"` or `"multihead"` targets.
        seed: int. Shuffling seed. Defaults to the source's seed.

    Attributes:
        draw_seconds: float. Wall-clock seconds this process has spent on
            the pool so far: the first pool, each redraw between epochs, and
            any wait for a background redraw. Training logs it as the time
            the trainer waited for data.
    """

    def __init__(
        self,
        source,
        pool_size=65536,
        batch_size=128,
        steps=None,
        refresh=0.125,
        workers=2,
        family="ctc",
        seed=None,
        background=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(source, SyntheticCaptchas):
            raise ValueError(f"CachedCaptchas draws from a SyntheticCaptchas. Received: source={source!r}")
        if not 0.0 <= refresh <= 1.0:
            raise ValueError(f"refresh is a fraction between 0 and 1. Received: refresh={refresh}")
        self.source = source
        self.chunk = source.batch_size
        self.pool_size = max(self.chunk, pool_size // self.chunk * self.chunk)
        self.batch_size = batch_size
        self.steps = steps or self.pool_size // batch_size
        self.refresh = refresh
        self.workers = workers
        self.background = background
        self.family = family
        self.seed = source.seed if seed is None else seed
        chunks = self.pool_size // self.chunk
        start_time = time.monotonic()
        pool = drawing_pool(workers) if workers > 1 else None
        try:
            self.images, self.texts = draw_batches(source, range(chunks), pool=pool, progress="drawing captchas")
        except BaseException:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            raise
        # Kept only where the redraws between epochs will use it.
        self._pool = pool if not background and self.chunks_per_epoch else None
        if pool is not None and self._pool is None:
            pool.shutdown()
        self.draw_seconds = time.monotonic() - start_time
        self._next_chunk = chunks
        self._epoch = 0
        self._epoch_began = False
        self._order = self._shuffle()
        self._pending = None
        self._executor = None
        self._submit_refresh()

    def __len__(self):
        return self.steps

    @property
    def chunks_per_epoch(self):
        return int(round(self.refresh * self.pool_size / self.chunk))

    def _shuffle(self):
        rng = np.random.default_rng([self.seed, self._epoch])
        needed = self.steps * self.batch_size
        repeats = -(-needed // self.pool_size)
        return np.concatenate([rng.permutation(self.pool_size) for _ in range(repeats)])[:needed]

    def _submit_refresh(self):
        count = self.chunks_per_epoch
        if not count:
            return
        indices = range(self._next_chunk, self._next_chunk + count)
        self._next_chunk += count
        if not self.background:
            # Drawn by `_apply_refresh` when the epoch ends.
            self._pending = indices
            return
        if self._executor is None:
            # One process: the other core trains.
            self._executor = drawing_pool(1)
        self._pending = [self._executor.submit(draw_one_batch, self.source, i) for i in indices]

    def _apply_refresh(self):
        if not self._pending:
            return
        start_time = time.monotonic()
        # Chunks replace slots in a rolling window, oldest first.
        first_slot = ((self._next_chunk - len(self._pending)) * self.chunk) % self.pool_size
        if self.background:
            drawn = [future.result() for future in self._pending]
            images, texts = np.concatenate([d[0] for d in drawn]), [t for d in drawn for t in d[1]]
        else:
            images, texts = draw_batches(self.source, self._pending, pool=self._pool)
        for k in range(len(self._pending)):
            start = (first_slot + k * self.chunk) % self.pool_size
            self.images[start : start + self.chunk] = images[k * self.chunk : (k + 1) * self.chunk]
            self.texts[start : start + self.chunk] = texts[k * self.chunk : (k + 1) * self.chunk]
        self._pending = None
        self.draw_seconds += time.monotonic() - start_time

    def __getitem__(self, index):
        if not 0 <= index < self.steps:
            raise IndexError(f"Batch index out of range. Received: index={index}, steps={self.steps}")
        picks = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        texts = [self.texts[i] for i in picks]
        targets = make_targets(texts, self.source.charset, self.family, self.source.max_length)
        return self.images[picks].astype("float32"), targets

    def on_epoch_begin(self):
        self._epoch_began = True

    def on_epoch_end(self):
        # Keras 3 also calls this when `fit` starts (its epoch iterator's
        # reset), before any epoch has begun: redrawing then would cost a
        # redraw per `fit` call for nothing (two per timed epoch in the
        # benchmark, one per phase in training).
        if not self._epoch_began:
            return
        self._epoch_began = False
        self._apply_refresh()
        self._epoch += 1
        self._order = self._shuffle()
        self._submit_refresh()

    def close(self):
        """Stops the drawing processes."""
        for name in ("_executor", "_pool"):
            if getattr(self, name, None) is not None:
                getattr(self, name).shutdown(cancel_futures=True)
                setattr(self, name, None)

    def __del__(self):
        self.close()
