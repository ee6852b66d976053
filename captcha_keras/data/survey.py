"""Survey a labelled folder: the images that decode, their sizes, modes and
pixel digests, and the files left out with the reason.

Every dataset tool on existing folders (stats, split, dedupe, merge) starts
from a `FolderSurvey`. Bad files are reported by name and skipped, or are a
`DataError` with `strict=True`.
"""

import concurrent.futures
import dataclasses
import hashlib
import multiprocessing
import os

import tqdm

from captcha_keras.charset import resolve_charset
from captcha_keras.data.folder import DataError
from captcha_keras.data.folder import scan_folder
from captcha_keras.data.labels import find_labels_file
from captcha_keras.data.tables import listing
from captcha_keras.images import ImageError
from captcha_keras.images import load_image

# Below this many files, checking them in one process beats starting a pool.
_PARALLEL_FROM = 2000
_CHUNK = 500


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
    survey = FolderSurvey(
        root=root,
        labels_file=find_labels_file(root),
        files=[],
        labels=[],
        sizes=[],
        modes=[],
        digests=[],
        problems=list(scan.problems),
    )
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
        raise DataError(f"--strict: {len(survey.problems):,} bad file(s) in {root}:\n{listing(survey.problems)}")
    if not survey.files:
        if survey.problems:
            raise DataError(
                f"{root} holds no usable labelled image; every file was skipped:\n{listing(survey.problems)}"
            )
        raise DataError(f"{root} holds no labelled image (name files LABEL.png, or add a labels.csv).")
    return survey
