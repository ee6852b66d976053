"""Dataset tools: generate a synthetic folder; inspect, split, dedupe and merge labelled folders.

The logic behind `scripts/generate.py` and `scripts/dataset.py`. Every tool
on existing folders starts from a `FolderSurvey` (`survey_folder`): the
labelled files that decode, their sizes, modes and pixel digests, and the
files left out with the reason. Bad files are reported by name and skipped,
or are a `DataError` with `strict=True`.

Nothing is deleted or moved unless asked: `split_folder` hard-links or
copies, `merge_folders` and `copy_unique` copy, and only
`delete_duplicates` removes files.
"""

import collections
import concurrent.futures
import csv
import dataclasses
import hashlib
import math
import multiprocessing
import os
import shutil
import time

import numpy as np
import tqdm
from PIL import Image

from captcha_keras.charset import resolve_charset
from captcha_keras.data.folder import DataError
from captcha_keras.data.folder import list_folder_images
from captcha_keras.data.folder import scan_folder
from captcha_keras.data.labels import find_labels_file
from captcha_keras.images import ImageError
from captcha_keras.images import load_image

# Below this many files, checking them in one process beats starting a pool.
_PARALLEL_FROM = 2000
_CHUNK = 500
# Characters that would turn a label into a path or an invalid file name.
_UNSAFE_IN_NAMES = "/\\\0"
# Bad files named in an error message or a printed report before "... and N more".
REPORT_LIMIT = 20
# Written by split, dedupe --out and merge when the sources use labels files.
LABELS_CSV = "labels.csv"


# ---------------------------------------------------------------- tables


def format_table(headers, rows):
    """Aligned plain-text columns: numbers right-aligned, text left-aligned.

    Example:

    >>> print(format_table(["size", "images"], [["72x24", 300]]))
    size   images
    72x24     300
    """
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_problems(problems, limit=REPORT_LIMIT):
    """`skipped FILE: reason` lines, at most `limit` of them, then a count of the rest."""
    lines = [f"skipped {file}: {reason}" for file, reason in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit:,} more (dataset.py stats lists them all)")
    return "\n".join(lines)


# ---------------------------------------------------------------- generate


@dataclasses.dataclass
class GenerateResult:
    """What `generate_folder` wrote: `count` images into `folder` in `seconds`."""

    folder: str
    count: int
    seconds: float

    @property
    def rate(self):
        """Images written per second."""
        return self.count / max(self.seconds, 1e-9)

    def summary(self):
        return f"wrote {self.count:,} captchas to {self.folder} in {self.seconds:.1f} s ({self.rate:,.0f} images/s)"


def generated_name(label, index, count):
    """`<label>_<index>.png`, the index zero-padded to the width of `count - 1`.

    Example:

    >>> generated_name("AB12", 7, 1000)
    'AB12_007.png'
    """
    return f"{label}_{index:0{len(str(max(count - 1, 0)))}d}.png"


def _write_batch(dataset, batch, start, stop, out, count):
    """Draws batch `batch` and writes its images `start..stop-1` (global indices)."""
    from captcha_keras.data.synthetic import draw_one_batch

    images, texts = draw_one_batch(dataset, batch)
    first = batch * dataset.batch_size
    for index in range(start, stop):
        image = images[index - first]
        # PIL wants a 2-D array for one channel.
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            os.path.join(out, generated_name(texts[index - first], index, count))
        )
    return stop - start


def generate_folder(
    out,
    count,
    charset="alnum_upper",
    width=128,
    height=64,
    length=4,
    seed=0,
    stream="train",
    grayscale=False,
    workers=2,
    force=False,
    batch_size=128,
    progress=True,
):
    """Writes `count` synthetic captchas to a folder as `<label>_<index>.png`.

    Image `index` is image `index % batch_size` of batch `index // batch_size`
    of `SyntheticCaptchas(seed=seed, stream=stream, batch_size=batch_size)`,
    so a folder does not depend on `workers` and its first images do not
    depend on `count`. With the training defaults (stream `"train"`, batch
    size 128) the folder holds the very captchas a training run with that
    seed draws: use another seed or stream for test data.

    Args:
        out: str. The folder; created if missing.
        count: int. Images to write.
        charset: str or `Charset`. A preset name or literal characters.
            Defaults to `"alnum_upper"`.
        width: int. Image width. Defaults to 128.
        height: int. Image height. Defaults to 64.
        length: int, `(min, max)` or `"4-6"`. Label length. Defaults to 4.
        seed: int. Defaults to 0.
        stream: str. `"train"`, `"validation"` or `"test"`. Defaults to `"train"`.
        grayscale: bool. One-channel PNGs. Defaults to False.
        workers: int. Processes drawing and writing. Defaults to 2.
        force: bool. Write into a folder that already holds images (files
            of the same name are replaced). Defaults to False.
        batch_size: int. Images per drawn batch. Defaults to 128.
        progress: bool. Show a progress bar. Defaults to True.

    Returns:
        A `GenerateResult`.

    Raises:
        ValueError: a bad argument.
        FileExistsError: `out` holds images and `force` is False.

    Example:

    >>> generate_folder("/tmp/digits", 10, charset="digits", progress=False).count
    10
    """
    from captcha_keras.data.synthetic import SyntheticCaptchas

    for name, value in (("count", count), ("width", width), ("height", height), ("workers", workers),
                        ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    steps = math.ceil(count / batch_size)
    dataset = SyntheticCaptchas(
        charset=charset, width=width, height=height, length=length, batch_size=batch_size, steps=steps,
        seed=seed, stream=stream, grayscale=grayscale, family=None,
    )
    unsafe = sorted(set(dataset.charset.characters) & set(_UNSAFE_IN_NAMES))
    blank = sorted(c for c in dataset.charset.characters if c.isspace())
    if unsafe or blank:
        # Labels live in file names, which cannot hold these and lose outer spaces.
        raise ValueError(f"A charset for file-name labels cannot hold {''.join(unsafe + blank)!r}. "
                         f"Received: charset={dataset.charset.characters!r}")
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"{out} is a file, not a folder.")
    existing = list_folder_images(out) if os.path.isdir(out) else []
    if existing and not force:
        raise FileExistsError(
            f"{out} already holds {len(existing):,} images; choose an empty folder, or pass --force "
            "(force=True) to write into it anyway."
        )
    os.makedirs(out, exist_ok=True)
    tasks = [(b, b * batch_size, min((b + 1) * batch_size, count)) for b in range(steps)]
    bar = tqdm.tqdm(total=count, desc="generating", unit="img", disable=not progress)
    started = time.perf_counter()
    if workers > 1 and len(tasks) > 1:
        # Fork: the children only draw with PIL and numpy and start at once.
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(_write_batch, dataset, b, start, stop, out, count) for b, start, stop in tasks]
            for future in concurrent.futures.as_completed(futures):
                bar.update(future.result())
    else:
        for b, start, stop in tasks:
            bar.update(_write_batch(dataset, b, start, stop, out, count))
    bar.close()
    return GenerateResult(folder=out, count=count, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- survey


@dataclasses.dataclass
class FolderSurvey:
    """The labelled images of a folder that decode, and what they look like.

    Attributes:
        root: str. The folder.
        labels_file: str or None. Its `labels.csv` / `labels.tsv`, if any.
        files: list of str. Usable image paths relative to `root`.
        labels: list of str. Their labels.
        sizes: list of `(width, height)`.
        modes: list of str. PIL modes (`"L"`, `"RGB"`, ...).
        digests: list of str. `pixel_digest` of each image.
        problems: list of `(file, reason)`. Files left out, and why.
    """

    root: str
    labels_file: object
    files: list
    labels: list
    sizes: list
    modes: list
    digests: list
    problems: list


def pixel_digest(image):
    """sha256 (hex) of an image's decoded pixels: mode, size and pixel bytes.

    The same pixels give the same digest whatever the file format or PNG
    compression. Palette images are compared by colour, not palette index.

    Args:
        image: `PIL.Image.Image`.
    """
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _inspect(root, files):
    """`(size, mode, digest, None)` or `(None, None, None, reason)` per file."""
    results = []
    for file in files:
        path = os.path.join(root, file)
        try:
            with load_image(path) as image:
                results.append((image.size, image.mode, pixel_digest(image), None))
        except ImageError as error:
            message = str(error)
            results.append((None, None, None, message.removeprefix(f"{path}: ")))
    return results


def _inspect_all(root, files, workers, progress):
    chunks = [files[i : i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    bar = tqdm.tqdm(total=len(files), desc=progress, unit="img", disable=progress is None, leave=False)
    results = []
    if workers > 1 and len(files) >= _PARALLEL_FROM:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            for chunk_results in pool.map(_inspect, [root] * len(chunks), chunks):
                results += chunk_results
                bar.update(len(chunk_results))
    else:
        for chunk in chunks:
            results += _inspect(root, chunk)
            bar.update(len(chunk))
    bar.close()
    return results


def _listing(problems, limit=REPORT_LIMIT):
    lines = [f"  {file}: {reason}" for file, reason in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit:,} more")
    return "\n".join(lines)


def survey_folder(root, charset=None, strict=False, workers=2, progress=None):
    """Finds a folder's labelled images and decodes each once to check it.

    Args:
        root: str. The folder.
        charset: str, `Charset` or None. A preset name or the characters
            labels may use; None: any.
        strict: bool. Any bad file (not an image, truncated, no label, a
            label outside `charset`, a labels-file row without a file) is a
            `DataError` instead of being skipped. Defaults to False.
        workers: int. Processes for large folders. Defaults to 2.
        progress: str or None. Progress-bar label; None hides it.

    Returns:
        A `FolderSurvey`.

    Raises:
        FileNotFoundError: `root` is not a folder.
        DataError: no usable labelled image, or bad files with `strict=True`.

    Example:

    >>> survey_folder("tests/fixtures/really_simple_captcha/images").sizes[0]
    (72, 24)
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such folder.")
    if charset is not None:
        charset = resolve_charset(charset)
    scan = scan_folder(root, charset=charset)
    results = _inspect_all(root, scan.files, workers, progress)
    survey = FolderSurvey(root=root, labels_file=find_labels_file(root), files=[], labels=[], sizes=[],
                          modes=[], digests=[], problems=list(scan.problems))
    for file, label, (size, mode, digest, problem) in zip(scan.files, scan.labels, results):
        if problem:
            survey.problems.append((file, problem))
            continue
        survey.files.append(file)
        survey.labels.append(label)
        survey.sizes.append(size)
        survey.modes.append(mode)
        survey.digests.append(digest)
    if strict and survey.problems:
        raise DataError(f"--strict: {len(survey.problems):,} bad file(s) in {root}:\n{_listing(survey.problems)}")
    if not survey.files:
        if survey.problems:
            raise DataError(f"{root} holds no usable labelled image; every file was skipped:\n"
                            f"{_listing(survey.problems)}")
        raise DataError(f"{root} holds no labelled image (name files LABEL.png, or add a labels.csv).")
    return survey


# ---------------------------------------------------------------- stats


def folder_stats(survey):
    """The numbers of a survey, as a JSON-ready dict.

    Keys: `folder`, `labels_file`, `images`, `skipped` (a list of
    `{"file", "reason"}`), `unique_labels`, `charset`, `label_lengths`
    (`{length: images}`), `characters` (`{character: occurrences}`, sorted
    by character), `sizes` (`{"WxH": images}`) and `modes` (`{mode: images}`),
    the last two most common first.
    """
    characters = collections.Counter("".join(survey.labels))
    lengths = collections.Counter(len(label) for label in survey.labels)
    sizes = collections.Counter(f"{w}x{h}" for w, h in survey.sizes)
    modes = collections.Counter(survey.modes)
    return {
        "folder": survey.root,
        "labels_file": os.path.basename(survey.labels_file) if survey.labels_file else None,
        "images": len(survey.files),
        "skipped": [{"file": file, "reason": reason} for file, reason in survey.problems],
        "unique_labels": len(set(survey.labels)),
        "charset": "".join(sorted(characters)),
        "label_lengths": dict(sorted(lengths.items())),
        "characters": dict(sorted(characters.items())),
        "sizes": dict(sizes.most_common()),
        "modes": dict(modes.most_common()),
    }


def format_stats(stats):
    """`folder_stats` as text tables for a person."""
    images = stats["images"]
    source = f"labels from {stats['labels_file']}" if stats["labels_file"] else "labels from file names"
    total_characters = sum(stats["characters"].values())
    sections = [
        "\n".join([
            f"folder: {stats['folder']} ({source})",
            f"labelled images: {images:,} ({stats['unique_labels']:,} distinct labels)",
            f"skipped files: {len(stats['skipped']):,}",
            f"charset: {stats['charset']}",
        ]),
        format_table(["label length", "images", "share"],
                     [[n, k, k / images] for n, k in stats["label_lengths"].items()]),
        format_table(["character", "count", "share"],
                     [[c, k, k / total_characters] for c, k in stats["characters"].items()]),
        format_table(["size (WxH)", "images", "share"], [[s, k, k / images] for s, k in stats["sizes"].items()]),
        format_table(["mode", "images", "share"], [[m, k, k / images] for m, k in stats["modes"].items()]),
    ]
    if stats["skipped"]:
        sections.append(format_table(["skipped file", "reason"], [[s["file"], s["reason"]] for s in stats["skipped"]]))
    return "\n\n".join(sections)


# ---------------------------------------------------------------- split


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
    if not name or name in (".", "..") or any(c in name for c in _UNSAFE_IN_NAMES):
        raise ValueError(f"A part name is a plain folder name. Received: {name!r}")


def _place(source, target, link):
    """Hard-links (when `link` and possible) or copies `source` to `target`; True if linked."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    if link:
        try:
            os.link(source, target)
            return True
        except OSError:
            pass  # Another file system, or one without hard links: copy instead.
    shutil.copy2(source, target)
    return False


def _write_labels_csv(path, files, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file", "label"])
        writer.writerows(zip(files, labels))


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
            _place(os.path.join(survey.root, file), os.path.join(folder, file), link)
        if survey.labels_file:
            _write_labels_csv(os.path.join(folder, LABELS_CSV), files, [survey.labels[i] for i in part])
        with open(os.path.join(out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.writelines(f"{file}\n" for file in files)
        parts[name] = files
    return parts


def format_split(parts, out):
    """A table of the parts of a split: name, images, share and folder."""
    total = sum(len(files) for files in parts.values())
    rows = [[name, len(files), len(files) / total, os.path.join(out, name)] for name, files in parts.items()]
    return format_table(["part", "images", "share", "folder"], rows)


# ---------------------------------------------------------------- dedupe


@dataclasses.dataclass
class DuplicateGroup:
    """Files with the same pixels, sorted by name, and their labels."""

    files: list
    labels: list

    @property
    def conflict(self):
        """True when the same pixels carry different labels."""
        return len(set(self.labels)) > 1

    @property
    def keep(self):
        """The first file (by name) of each label in the group."""
        first = {}
        for file, label in zip(self.files, self.labels):
            first.setdefault(label, file)
        return sorted(first.values())

    @property
    def extra(self):
        """The files a deduplication removes: exact copies, same pixels and label.

        Files that only share pixels with a differently labelled one stay:
        which label is right is for a person to decide.
        """
        keep = set(self.keep)
        return [file for file in self.files if file not in keep]


def find_duplicates(survey):
    """Groups of two or more files with the same decoded pixels, ordered by their first file."""
    by_digest = collections.defaultdict(list)
    for file, label, digest in zip(survey.files, survey.labels, survey.digests):
        by_digest[digest].append((file, label))
    groups = []
    for members in by_digest.values():
        if len(members) > 1:
            members.sort()
            groups.append(DuplicateGroup(files=[f for f, _ in members], labels=[label for _, label in members]))
    return sorted(groups, key=lambda group: group.files[0])


def format_duplicates(groups, total):
    """A report of duplicate groups for a person; `total` is the number of images surveyed."""
    extra = sum(len(g.extra) for g in groups)
    conflicts = [g for g in groups if g.conflict]
    lines = [f"{total:,} images, {len(groups):,} duplicate groups, {extra:,} removable copies, "
             f"{len(conflicts):,} label conflicts"]
    for group in groups:
        tag = "CONFLICT " if group.conflict else ""
        members = ", ".join(f"{file} ({label})" for file, label in zip(group.files, group.labels))
        lines.append(f"  {tag}{members}")
    if conflicts:
        lines.append("Conflicts (same pixels, different labels) are kept whole: fix their labels by hand.")
    return "\n".join(lines)


def _removed(groups):
    return {file for group in groups for file in group.extra}


def copy_unique(survey, groups, out):
    """Copies every image except the removable copies of `groups` to `out`; returns the files copied.

    `out` must hold no image yet. A `labels.csv` is written when the source
    has a labels file.
    """
    _require_empty(out, survey.root)
    removed = _removed(groups)
    kept = [(file, label) for file, label in zip(survey.files, survey.labels) if file not in removed]
    for file, _ in kept:
        _place(os.path.join(survey.root, file), os.path.join(out, file), link=False)
    if survey.labels_file:
        _write_labels_csv(os.path.join(out, LABELS_CSV), [f for f, _ in kept], [label for _, label in kept])
    return [file for file, _ in kept]


def delete_duplicates(survey, groups):
    """Deletes the removable copies of `groups` in place; returns the files deleted.

    When the folder has a labels file, the rows of the deleted files are
    removed from it; every other line is kept as it was.
    """
    removed = sorted(_removed(groups))
    if survey.labels_file and removed:
        _drop_label_rows(survey.labels_file, set(removed))
    for file in removed:
        os.remove(os.path.join(survey.root, file))
    return removed


def _drop_label_rows(path, files):
    # Filter raw lines rather than rewrite parsed rows, so that the header,
    # quoting, line endings and rows this tool does not touch stay as they were.
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, newline="", encoding="utf-8") as f:
        lines = f.readlines()
    kept = [line for line in lines if next(csv.reader([line], delimiter=delimiter), [""])[0].strip() not in files]
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.writelines(kept)


# ---------------------------------------------------------------- merge


@dataclasses.dataclass
class MergeRow:
    """What `merge_folders` took from one source."""

    source: str
    taken: int
    skipped: int
    renamed: int


def _require_empty(out, *sources):
    real = os.path.realpath(out)
    if any(real == os.path.realpath(s) for s in sources):
        raise ValueError(f"--out must be another folder than the source(s). Received: --out {out}")
    if os.path.isfile(out):
        raise FileExistsError(f"{out} is a file, not a folder.")
    if os.path.isdir(out) and (list_folder_images(out) or find_labels_file(out)):
        raise FileExistsError(f"{out} already holds images or a labels file; choose an empty folder.")


def _name_stem(label):
    # A labels-file label may hold characters a file name cannot; such files
    # are named by the merged labels.csv anyway.
    if not label or label != label.strip() or label.startswith(".") or any(c in label for c in _UNSAFE_IN_NAMES):
        return "image"
    return label


def merge_folders(surveys, out):
    """Copies the usable images of several folders into one.

    A file keeps its name unless an earlier one took it (compared without
    case, so the result also works on case-insensitive file systems); then
    it becomes `<label>_<n>.<ext>` with the smallest free `n`, so a label
    carried by the file name survives. When any source uses a labels file,
    `out/labels.csv` lists every merged file, since a labels file replaces
    file-name labels for the whole folder.

    Args:
        surveys: list of `FolderSurvey`, one per source, in order.
        out: str. An empty or missing folder.

    Returns:
        A list of `MergeRow`, one per source.
    """
    _require_empty(out, *(s.root for s in surveys))
    roots = [os.path.realpath(s.root) for s in surveys]
    if len(set(roots)) != len(roots):
        raise ValueError(f"A source folder is given twice. Received: {[s.root for s in surveys]}")
    os.makedirs(out, exist_ok=True)
    taken, merged_files, merged_labels, rows = set(), [], [], []
    for survey in surveys:
        renamed = 0
        for file, label in zip(survey.files, survey.labels):
            name = os.path.basename(file)
            if name.casefold() in taken:
                stem, ext = _name_stem(label), os.path.splitext(name)[1]
                n = 1
                while f"{stem}_{n}{ext}".casefold() in taken:
                    n += 1
                name = f"{stem}_{n}{ext}"
                renamed += 1
            taken.add(name.casefold())
            shutil.copy2(os.path.join(survey.root, file), os.path.join(out, name))
            merged_files.append(name)
            merged_labels.append(label)
        rows.append(MergeRow(source=survey.root, taken=len(survey.files), skipped=len(survey.problems),
                             renamed=renamed))
    if any(s.labels_file for s in surveys):
        _write_labels_csv(os.path.join(out, LABELS_CSV), merged_files, merged_labels)
    return rows


def format_merge(rows):
    """A per-source table of a merge, with a total row."""
    total = MergeRow("total", *(sum(getattr(r, k) for r in rows) for k in ("taken", "skipped", "renamed")))
    return format_table(["source", "taken", "skipped", "renamed"],
                        [[r.source, r.taken, r.skipped, r.renamed] for r in rows + [total]])
