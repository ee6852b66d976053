"""Folders of real, labelled captchas.

A folder holds images whose label is the file name (`AB12.png`,
`AB12_17.png`, `AB12.1.png`), or a `labels.csv` / `labels.tsv` that maps file
names to labels. Bad files (not an image, truncated, a label with characters
outside the charset, a name with no label) are reported by name and skipped,
or are an error with `strict=True`. Nothing on disk is ever changed.
"""

import concurrent.futures
import contextlib
import dataclasses
import functools
import multiprocessing
import os

import numpy as np
import tqdm

from captcha_keras.data.labels import LabelError
from captcha_keras.data.labels import characters_outside
from captcha_keras.data.labels import find_labels_file
from captcha_keras.data.labels import label_from_name
from captcha_keras.data.labels import labels_charset
from captcha_keras.data.labels import read_labels_file
from captcha_keras.images import IMAGE_EXTENSIONS
from captcha_keras.images import ImageError
from captcha_keras.images import load_image
from captcha_keras.images import to_model_input

# Below this many files, decoding in one process beats starting a pool.
_PARALLEL_FROM = 2000


class DataError(ValueError):
    """A dataset that cannot be used as asked: empty, or bad files under `strict`."""


@dataclasses.dataclass
class FolderScan:
    """The labelled files of a folder, before any image is decoded.

    Attributes:
        root: str. The folder.
        files: list of str. Image paths relative to `root`, sorted.
        labels: list of str. The label of each file.
        problems: list of `(file, reason)`. Files left out, and why.
    """

    root: str
    files: list
    labels: list
    problems: list

    @property
    def charset(self):
        """The sorted characters of all labels."""
        return labels_charset(self.labels)


def list_folder_images(root, recursive=False):
    """Image files under `root` (by extension), relative to it and sorted."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such folder.")
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        found.extend(
            os.path.relpath(os.path.join(folder, n), root) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not recursive:
            break
    return sorted(found)


def scan_folder(root, charset=None, recursive=False):
    """Finds the labelled images of a folder and checks their labels.

    Args:
        root: str. The folder.
        charset: str or None. When given, labels with other characters are
            problems; when None, any character is accepted.
        recursive: bool. Also look in subfolders (file-name labels only).

    Returns:
        A `FolderScan`.
    """
    labels_file = find_labels_file(root) if os.path.isdir(root) else None
    problems = []
    if labels_file:
        table, problems = read_labels_file(labels_file)
        pairs = []
        for file, label in table.items():
            if os.path.isfile(os.path.join(root, file)):
                pairs.append((file, label))
            else:
                problems.append((file, f"listed in {os.path.basename(labels_file)} but not found"))
        listed = set(table)
        problems += [
            (file, f"not listed in {os.path.basename(labels_file)}")
            for file in list_folder_images(root, recursive)
            if file not in listed
        ]
    else:
        pairs = []
        for file in list_folder_images(root, recursive):
            try:
                pairs.append((file, label_from_name(file)))
            except LabelError as error:
                problems.append((file, str(error).split(": ", 1)[-1]))
    files, labels = [], []
    for file, label in pairs:
        outside = characters_outside(label, charset) if charset is not None else ""
        if outside:
            problems.append((file, f"label {label!r} has characters outside the charset: {outside!r}"))
        else:
            files.append(file)
            labels.append(label)
    return FolderScan(root=root, files=files, labels=labels, problems=problems)


@dataclasses.dataclass
class FolderData:
    """Decoded images of a folder, ready for a model.

    Attributes:
        root: str. The folder.
        files: list of str. Paths relative to `root` of the usable images.
        texts: list of str. Their labels.
        images: uint8 array `(n, height, width, channels)`.
        problems: list of `(file, reason)`. Everything left out.
    """

    root: str
    files: list
    texts: list
    images: np.ndarray
    problems: list

    @property
    def charset(self):
        return labels_charset(self.texts)

    def subset(self, indices):
        """The same folder restricted to `indices` (problems kept)."""
        indices = list(indices)
        return FolderData(
            root=self.root,
            files=[self.files[i] for i in indices],
            texts=[self.texts[i] for i in indices],
            images=self.images[indices],
            problems=self.problems,
        )

    def summary(self, limit=10):
        """One paragraph for a person: what was read, what was skipped and why."""
        lines = [f"{self.root}: {len(self.files):,} labelled images"]
        if self.problems:
            lines[0] += f", {len(self.problems):,} skipped"
            lines += [f"  skipped {file}: {reason}" for file, reason in self.problems[:limit]]
            if len(self.problems) > limit:
                lines.append(f"  ... and {len(self.problems) - limit:,} more")
        return "\n".join(lines)


def _decode(root, files, width, height, channels, keep_aspect, fusion=None):
    """Decodes files; returns `(images, ok indices, problems)`."""
    images, ok, problems = [], [], []
    for i, file in enumerate(files):
        try:
            image = load_image(os.path.join(root, file), fusion=fusion)
            images.append(to_model_input(image, width, height, channels, keep_aspect))
            ok.append(i)
        except ImageError as error:
            problems.append((file, str(error).split(": ", 1)[-1]))
    return images, ok, problems


def decode_images(root, files, width, height, channels, *, keep_aspect=False, workers=2, progress=None, fusion=None):
    """Decodes image files into a model-input array, reporting the bad ones (`fusion`: how an
    animation's frames are fused, `images.load_image`).

    Returns:
        `(images, ok, problems)`: a uint8 array of the good images, the
        indices into `files` they came from, and `(file, reason)` pairs.
    """
    chunks = [files[i : i + 500] for i in range(0, len(files), 500)]
    decode = functools.partial(
        _decode, root, width=width, height=height, channels=channels, keep_aspect=keep_aspect, fusion=fusion
    )
    bar = tqdm.tqdm(total=len(files), desc=progress, unit="img", disable=progress is None, leave=False)
    images, ok, problems, offset = [], [], [], 0
    with contextlib.ExitStack() as stack:
        results = map(decode, chunks)
        if workers > 1 and len(files) >= _PARALLEL_FROM:
            context = multiprocessing.get_context("fork")
            pool = stack.enter_context(concurrent.futures.ProcessPoolExecutor(workers, mp_context=context))
            results = pool.map(decode, chunks)
        for chunk, (chunk_images, chunk_ok, chunk_problems) in zip(chunks, results):
            images += chunk_images
            ok += [offset + i for i in chunk_ok]
            problems += chunk_problems
            offset += len(chunk)
            bar.update(len(chunk))
    bar.close()
    empty = np.zeros((0, height, width, channels), "uint8")
    return (np.stack(images) if images else empty), ok, problems


def read_folder(
    root,
    width,
    height,
    channels,
    keep_aspect=False,
    charset=None,
    strict=False,
    recursive=False,
    workers=2,
    progress="reading images",
    only=None,
    fusion=None,
):
    """Reads a labelled folder into memory at the model's input size.

    Args:
        root: str. The folder.
        width, height, channels: int. Model input.
        keep_aspect: bool. Pad to the input's aspect ratio instead of stretching.
        charset: str or None. Labels must use only these characters.
        strict: bool. Raise on the first report of bad files instead of
            skipping them.
        recursive: bool. Also read subfolders.
        only: collection of str or None. Read only these files (relative
            to `root`); the others are not decoded.
        workers: int. Decoding processes for large folders.
        progress: str or None. Progress-bar label; None hides it.
        fusion: str or None. How animations' frames are fused (a run's
            `RunConfig.fusion`); None: `images.FUSION`.

    Returns:
        A `FolderData`.

    Raises:
        FileNotFoundError: `root` is not a folder.
        DataError: no usable image, or bad files with `strict=True`.
    """
    scan = scan_folder(root, charset=charset, recursive=recursive)
    if only is not None:
        only = set(only)
        keep = [i for i, file in enumerate(scan.files) if file in only]
        scan.files, scan.labels = [scan.files[i] for i in keep], [scan.labels[i] for i in keep]
        scan.problems = [(file, reason) for file, reason in scan.problems if file in only]
    images, ok, problems = decode_images(
        root,
        scan.files,
        width,
        height,
        channels,
        keep_aspect=keep_aspect,
        workers=workers,
        progress=progress,
        fusion=fusion,
    )
    data = FolderData(
        root=root,
        files=[scan.files[i] for i in ok],
        texts=[scan.labels[i] for i in ok],
        images=images,
        problems=scan.problems + problems,
    )
    if strict and data.problems:
        raise DataError(f"--strict: bad files in {data.summary()}")
    if not data.files:
        detail = f"\n{data.summary()}" if data.problems else ""
        raise DataError(f"{root} holds no usable labelled image (name files LABEL.png, or add a labels.csv).{detail}")
    return data


def split_indices(count, fraction, seed):
    """A seeded split of `range(count)`: `(kept, held_out)`, each sorted.

    `held_out` has `round(count * fraction)` items (at least 1 when
    `fraction > 0` and `count > 1`).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"A split fraction is in [0, 1). Received: {fraction}")
    held = int(round(count * fraction))
    if fraction > 0 and count > 1:
        held = min(max(held, 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return sorted(order[held:].tolist()), sorted(order[:held].tolist())
