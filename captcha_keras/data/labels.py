"""Labels of captcha files: from the file name, or from a labels file.

Pure functions, no image reading. The naming forms other captcha tools use
all work: `AB12.png`, `AB12_17.png`, `AB12.1.png` and
`AB12_77b2c2f41ab8a8196ec3508e6f1171bd.png` are all labelled `AB12` (a
trailing `_<digits>` or `.<digits>` is a copy index, and `_<md5, sha or
uuid>` the uniquifier that captcha_trainer's and dddd_trainer's datasets and
public real captcha sets put after the label; neither is part of it).
"""

import csv
import os
import re

import numpy as np

LABEL_FILES = ("labels.csv", "labels.tsv")
# First-row spellings taken as a header rather than a file named "file".
_HEADER_FILE = {"file", "filename", "file_name", "image", "path"}
_HEADER_LABEL = {"label", "text", "captcha"}

_HEX_ID = r"[0-9a-fA-F]{16,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_INDEXED = re.compile(r"(?P<label>.*?)(?:[_.]\d+|_(?:" + _HEX_ID + r"))")
_HASH_LIKE = re.compile(_HEX_ID)
# Longer than this many times the median label length is probably not a label.
_TOO_LONG = 2.0


class LabelError(ValueError):
    """A file name or labels-file row that gives no usable label."""


def label_from_name(name):
    """The label a file name carries.

    Args:
        name: str. A file name or path; only the base name counts.

    Returns:
        str, the label.

    Raises:
        LabelError: when nothing is left once extension and index are removed.

    Example:

    >>> [label_from_name(n) for n in ("AB12.png", "AB12_17.png", "AB12.1.png", "x/7Q.jpg")]
    ['AB12', 'AB12', 'AB12', '7Q']
    >>> label_from_name("113d_77b2c2f41ab8a8196ec3508e6f1171bd.jpg")
    '113d'
    """
    base = os.path.basename(name)
    stem, extension = os.path.splitext(base)
    if not extension and base.startswith("."):
        stem = ""  # ".png": splitext sees a hidden file with no extension
    stem = stem.strip()
    match = _INDEXED.fullmatch(stem)
    label = match.group("label") if match else stem
    if not label:
        raise LabelError(
            f"{os.path.basename(name)}: the file name carries no label (expected LABEL.png or LABEL_N.png)."
        )
    return label


def find_labels_file(folder):
    """The `labels.csv` / `labels.tsv` of a folder, or None."""
    for name in LABEL_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def read_labels_file(path):
    """Reads `file,label` rows (comma for .csv, tab for .tsv; a header row is optional).

    Returns:
        `(labels, problems)`: an ordered dict `{file: label}` of the good rows,
        and a list of `(where, reason)` for the bad ones (wrong number of
        columns, empty label, a file listed twice).
    """
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    labels, problems = {}, []
    # utf-8-sig: spreadsheets often start a CSV with a byte-order mark.
    with open(path, newline="", encoding="utf-8-sig") as f:
        for number, row in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if (
                number == 1
                and len(row) == 2
                and row[0].strip().lower() in _HEADER_FILE
                and (row[1].strip().lower() in _HEADER_LABEL)
            ):
                continue
            where = f"{os.path.basename(path)} line {number}"
            if len(row) != 2:
                problems.append((where, f"expected 2 columns (file, label), found {len(row)}"))
                continue
            file, label = row[0].strip(), row[1].strip()
            if not label:
                problems.append((file or where, "empty label"))
            elif file in labels:
                problems.append((file, f"listed twice ({where})"))
            else:
                labels[file] = label
    return labels, problems


def suspicious_labels(labels, limit=5):
    """Labels that look like something else: a hash, or far longer than the rest.

    A folder named by hashes, or by a convention the reader does not know,
    turns whole file names into labels; saying so before training beats a
    model that cannot fit 37-character labels.

    Args:
        labels: list of str.
        limit: int. Examples returned per reason.

    Returns:
        `{reason: (count, examples)}`, empty when nothing looks wrong.

    Example:

    >>> suspicious_labels(["AB12", "CD34", "77b2c2f41ab8a8196ec3508e6f1171bd"])
    {'hash-like': (1, ['77b2c2f41ab8a8196ec3508e6f1171bd'])}
    """
    if not labels:
        return {}
    median = float(np.median([len(label) for label in labels]))
    found = {}
    for label in labels:
        if _HASH_LIKE.fullmatch(label):
            reason = "hash-like"
        elif len(label) > max(_TOO_LONG * median, median + 4):
            reason = f"longer than {_TOO_LONG:g}x the median length ({median:g})"
        else:
            continue
        count, examples = found.get(reason, (0, []))
        found[reason] = (count + 1, examples + [label] if len(examples) < limit else examples)
    return found


def labels_charset(labels):
    """The sorted characters that `labels` use: the charset a folder implies."""
    return "".join(sorted(set("".join(labels))))


def characters_outside(label, charset):
    """The characters of `label` missing from `charset` (a string), in order, once each."""
    return "".join(dict.fromkeys(c for c in label if c not in charset))
