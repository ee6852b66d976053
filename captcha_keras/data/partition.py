"""Split a labelled folder into seeded parts on disk (`dataset.py split`).

The source is never changed: files are hard-linked where possible, copied
otherwise. (`splits.py` is the other kind of split: a training run's
train / validation / test images in memory.)
"""

import os

import numpy as np

from captcha_keras.data.files import LABELS_CSV
from captcha_keras.data.files import UNSAFE_IN_NAMES
from captcha_keras.data.files import place
from captcha_keras.data.files import write_labels_csv
from captcha_keras.data.tables import format_table


def split_parts(count, fractions, seed):
    """A seeded partition of `range(count)` into `len(fractions)` sorted parts.

    Parts 2..k get `round(count * fraction)` items each, taken in turn from
    the front of `default_rng(seed).permutation(count)`; part 1 gets the
    rest. Every part gets at least one item when `count >= k`. With two
    parts this is `folder.split_indices(count, fractions[1], seed)`, so the
    second part of a split is the held-out set a training run with
    `--val-split fractions[1] --seed seed` uses on the same files.

    Args:
        count: int. Items to split.
        fractions: sequence of float. Positive shares that sum to 1.
        seed: int.

    Returns:
        A list of sorted lists of int.

    Example:

    >>> [len(p) for p in split_parts(10, (0.8, 0.2), seed=0)]
    [8, 2]
    """
    fractions = [float(f) for f in fractions]
    if len(fractions) < 2 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"Split fractions are two or more positive numbers that sum to 1. Received: {fractions}")
    sizes = [int(round(count * f)) for f in fractions[1:]]
    reserve = 0
    if count >= len(fractions):
        sizes = [max(size, 1) for size in sizes]
        reserve = 1  # the first part must not end up empty either
    while sum(sizes) > count - reserve:
        sizes[int(np.argmax(sizes))] -= 1
    order = np.random.default_rng(seed).permutation(count).tolist()
    parts, start = [], 0
    for size in sizes:
        parts.append(sorted(order[start : start + size]))
        start += size
    return [sorted(order[start:])] + parts


def _check_part_name(name):
    if not name or name in (".", "..") or any(c in name for c in UNSAFE_IN_NAMES):
        raise ValueError(f"A part name is a plain folder name. Received: {name!r}")


def split_folder(survey, out, fractions=(0.8, 0.2), names=("train", "test"), seed=0, link=True):
    """Splits a folder's usable images into `out/<name>/` folders.

    Files are hard-linked when possible (edit a linked file and the source
    changes too; pass `link=False` for copies) and copied otherwise; the
    source is never changed. Each part also gets `out/<name>.txt`, its files
    relative to the source folder, and a `labels.csv` when the source has a
    labels file.

    Args:
        survey: `FolderSurvey` of the source.
        out: str. Output folder; `out/<name>` and `out/<name>.txt` must not exist yet.
        fractions: sequence of float. Shares of the parts, summing to 1.
        names: sequence of str. Part names, as many as `fractions`.
        seed: int. The same seed gives the same parts (see `split_parts`).
        link: bool. Hard-link instead of copying where possible. Defaults to True.

    Returns:
        `{name: files}`, files relative to the source, in survey order.

    Example:

    >>> parts = split_folder(survey_folder("images"), "splits", seed=1)
    """
    names = list(names)
    if len(names) != len(fractions) or len(set(names)) != len(names):
        raise ValueError(f"Give one distinct name per fraction. Received: names={names}, fractions={list(fractions)}")
    for name in names:
        _check_part_name(name)
    for name in names:
        folder, listing = os.path.join(out, name), os.path.join(out, f"{name}.txt")
        if (os.path.isdir(folder) and os.listdir(folder)) or os.path.exists(listing) or os.path.isfile(folder):
            raise FileExistsError(f"{folder} or {listing} already exists; choose another --out or other --names.")
    indices = split_parts(len(survey.files), fractions, seed)
    parts = {}
    for name, part in zip(names, indices):
        files = [survey.files[i] for i in part]
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        for file in files:
            place(os.path.join(survey.root, file), os.path.join(folder, file), link)
        if survey.labels_file:
            write_labels_csv(os.path.join(folder, LABELS_CSV), files, [survey.labels[i] for i in part])
        with open(os.path.join(out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.writelines(f"{file}\n" for file in files)
        parts[name] = files
    return parts


def format_split(parts, out):
    """A table of the parts of a split: name, images, share and folder."""
    total = sum(len(files) for files in parts.values())
    rows = [[name, len(files), len(files) / total, os.path.join(out, name)] for name, files in parts.items()]
    return format_table(["part", "images", "share", "folder"], rows)
