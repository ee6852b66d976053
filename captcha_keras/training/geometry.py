"""The input size of a folder run, from its images: no squashing, and enough CTC time steps.

Every architecture of the registry halves the height five times and the width
three (CTC: one time step per 8 pixels of width) or five times, so sizes are
multiples of 32. The height is 64 for images at least 48 pixels high and 32
below, the width keeps the median image's aspect ratio: a 200x70 captcha read
at 128x64 is squashed to 2:1, and 200 labelled amazon-captcha images trained
to 98.39% held-out at 128x64 against 99.88-100% at 192x64 (docs/serving.md,
one pair of runs). A CTC model also needs a time step for each character of
the longest label, plus one for each pair of equal neighbours (CTC must put a
blank between them): `AA` needs 3.
"""

import os
import statistics

from PIL import Image

# What the conv stacks divide the input by: every size is a multiple of this.
MULTIPLE = 32
# Pixels of width per CTC time step.
WIDTH_PER_STEP = 8
SYNTHETIC_SIZE = (128, 64)


def steps_needed(label):
    """CTC time steps a label needs: its length plus its pairs of equal neighbours.

    Example:

    >>> [steps_needed(t) for t in ("AB12", "AA", "7777")]
    [4, 3, 7]
    """
    return len(label) + sum(a == b for a, b in zip(label, label[1:]))


def _round_to_multiple(value):
    return max(MULTIPLE, int(round(value / MULTIPLE)) * MULTIPLE)


def choose_geometry(sizes, labels, family="ctc", width=None, height=None):
    """The input `(width, height)` of a folder run, and why, for a person.

    Args:
        sizes: list of `(width, height)` of the images (a sample will do).
        labels: list of str. The labels (for the CTC time steps).
        family: str. `"ctc"` or `"multihead"`.
        width, height: int or None. Sizes given on the command line; None
            chooses from the images.

    Returns:
        `(width, height, reasons)`: reasons is a list of sentences.

    Raises:
        ValueError: a given width leaves a CTC model fewer time steps than the labels need.

    Example:

    >>> choose_geometry([(200, 70)] * 3, ["ABCDEF"])[:2]
    (192, 64)
    """
    reasons = []
    if sizes:
        median_w = statistics.median(w for w, _ in sizes)
        median_h = statistics.median(h for _, h in sizes)
    else:
        median_w, median_h = SYNTHETIC_SIZE
    if height is None:
        height = 64 if median_h >= 48 else 32
        reasons.append(
            f"height {height}: the median image is {median_w:g}x{median_h:g} "
            f"({'at least' if height == 64 else 'under'} 48 pixels high)"
        )
    if width is None:
        aspect = median_w / median_h
        width = _round_to_multiple(height * aspect)
        reasons.append(
            f"width {width}: keeps the median aspect ratio {aspect:.2f} at height {height}, "
            f"rounded to a multiple of {MULTIPLE}"
        )
        if family == "ctc" and labels:
            needed = max(steps_needed(label) for label in labels)
            if width // WIDTH_PER_STEP < needed:
                width = -(-needed * WIDTH_PER_STEP // MULTIPLE) * MULTIPLE
                reasons.append(
                    f"widened to {width}: the longest label needs {needed} CTC time steps "
                    f"(one per {WIDTH_PER_STEP} pixels)"
                )
    elif family == "ctc" and labels:
        check_time_steps(width, labels)
    return width, height, reasons


def check_time_steps(width, labels):
    """Raises `ValueError` when `width` gives a CTC model fewer time steps than a label needs."""
    worst = max(labels, key=steps_needed)
    needed = steps_needed(worst)
    if width // WIDTH_PER_STEP < needed:
        smallest = -(-needed * WIDTH_PER_STEP // MULTIPLE) * MULTIPLE
        raise ValueError(
            f"--width {width} gives {width // WIDTH_PER_STEP} CTC time steps, but the label {worst!r} needs "
            f"{needed} (its {len(worst)} characters, and a blank between each pair of equal neighbours). "
            f"Use --width {smallest} or more, or leave --width out to choose it from the images."
        )


def image_sizes(root, files, limit=2000):
    """`(width, height)` of up to `limit` of the files, read from their headers only."""
    step = max(1, len(files) // limit)
    sizes = []
    for file in files[::step][:limit]:
        try:
            with Image.open(os.path.join(root, file)) as image:
                sizes.append(image.size)
        except Exception:  # a bad file is reported when the folder is read; here it only has no size
            continue
    return sizes
