"""The labels a synthetic stream draws: random texts, with lookalike characters drawn more often."""

import numpy as np

# Characters that the package's font (DroidSansMono) draws alike: ImageCaptcha
# stretches every glyph's ink to the font's character box, so 0 and O come out
# the same width and height and differ only in the curve of their sides. They
# are most of what a trained model still gets wrong.
LOOKALIKES = ("0O",)


def resolve_emphasis(emphasize, characters):
    """The characters to emphasize: `"auto"` picks the `LOOKALIKES` pairs
    whose characters are all in `characters`, `"none"` nothing.

    Example:

    >>> resolve_emphasis("auto", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    '0O'
    >>> resolve_emphasis("auto", "0123456789")
    ''
    """
    if emphasize == "auto":
        return "".join(pair for pair in LOOKALIKES if set(pair) <= set(characters))
    if emphasize in ("none", None):
        return ""
    return emphasize


def character_weights(characters, emphasize="", factor=1.0):
    """Sampling probabilities of `characters`, `emphasize`'d ones `factor` times as likely.

    Returns None (uniform) when nothing is emphasized.

    Example:

    >>> character_weights("0O12", "0O", 3.0).tolist()
    [0.375, 0.375, 0.125, 0.125]
    """
    unknown = sorted(set(emphasize) - set(characters))
    if unknown:
        raise ValueError(f"Emphasized characters must be in the charset. Not in {characters!r}: {''.join(unknown)!r}")
    if factor <= 0:
        raise ValueError(f"The emphasis factor must be positive. Received: factor={factor}")
    if not emphasize or factor == 1.0:
        return None
    weights = np.array([factor if c in emphasize else 1.0 for c in characters])
    return weights / weights.sum()


def random_texts(rng, count, characters, min_length, max_length, weights=None):
    """Draws `count` random labels with numpy's `rng`, characters uniform or by `weights`."""
    lengths = rng.integers(min_length, max_length + 1, size=count)
    if weights is None:
        indices = rng.integers(0, len(characters), size=(count, max_length))
    else:
        indices = rng.choice(len(characters), size=(count, max_length), p=weights)
    return ["".join(characters[i] for i in row[:n]) for row, n in zip(indices, lengths)]
