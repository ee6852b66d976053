"""Seeded randomness for the `captcha` package, so that its captchas are a pure function of a seed.

`synthetic` (the `captcha` style) and `styles` (the `fonts` style) both draw
with `captcha.image.ImageCaptcha`; this module, which neither of them owns,
lets both seed it without importing each other.
"""

import contextlib
import random
import secrets
import threading

import captcha.image


class _SeedableSecrets:
    """Stands in for the `secrets` module inside `captcha.image`.

    `ImageCaptcha` (0.7) draws all of its randomness from `secrets`, which
    cannot be seeded, so no two runs would ever see the same captchas. This
    object answers the three calls it makes from a seeded `random.Random`
    held per thread, and falls back to the real `secrets` outside
    `seeded()`, so other users of the package keep cryptographic randomness.
    """

    def __init__(self):
        self._local = threading.local()

    def _rng(self):
        return getattr(self._local, "rng", None)

    def randbelow(self, n):
        rng = self._rng()
        return rng.randrange(n) if rng else secrets.randbelow(n)

    def randbits(self, k):
        rng = self._rng()
        return rng.getrandbits(k) if rng else secrets.randbits(k)

    def choice(self, sequence):
        rng = self._rng()
        return rng.choice(sequence) if rng else secrets.choice(sequence)

    @contextlib.contextmanager
    def seeded(self, seed):
        previous = self._rng()
        self._local.rng = random.Random(seed)
        try:
            yield
        finally:
            self._local.rng = previous


_SECRETS = _SeedableSecrets()
captcha.image.secrets = _SECRETS


def seeded_captcha_randomness(seed):
    """A context in which `captcha.image` draws its randomness from `seed`.

    Args:
        seed: int. Seed of every random choice `captcha.image` makes inside the context.

    Example:

    >>> from captcha.image import ImageCaptcha
    >>> with seeded_captcha_randomness(7):
    ...     image = ImageCaptcha().generate_image("1234")
    """
    return _SECRETS.seeded(seed)
