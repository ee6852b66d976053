"""Labels of captcha files: from the file name, or from a labels file.

Pure functions, no image reading. The naming forms other captcha tools use
all work: `AB12.png`, `AB12_17.png` and `AB12.1.png` are all labelled `AB12`
(a trailing `_<digits>` or `.<digits>` is a copy index, not part of the label).
"""

import csv
import os
import re

LABEL_FILES = ("labels.csv", "labels.tsv")
# First-row spellings taken as a header rather than a file named "file".
_HEADER_FILE = {"file", "filename", "file_name", "image", "path"}
_HEADER_LABEL = {"label", "text", "captcha"}

_INDEXED = re.compile(r"(?P<label>.*?)[_.](?P<index>\d+)")


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
    """
    base = os.path.basename(name)
    stem, extension = os.path.splitext(base)
    if not extension and base.startswith("."):
        stem = ""  # ".png": splitext sees a hidden file with no extension
    stem = stem.strip()
    match = _INDEXED.fullmatch(stem)
    label = match.group("label") if match else stem
    if not label:
        raise LabelError(f"{os.path.basename(name)}: the file name carries no label (expected LABEL.png or LABEL_N.png).")
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
            if number == 1 and len(row) == 2 and row[0].strip().lower() in _HEADER_FILE and (
                row[1].strip().lower() in _HEADER_LABEL
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


def labels_charset(labels):
    """The sorted characters that `labels` use: the charset a folder implies."""
    return "".join(sorted(set("".join(labels))))


def characters_outside(label, charset):
    """The characters of `label` missing from `charset` (a string), in order, once each."""
    return "".join(dict.fromkeys(c for c in label if c not in charset))
