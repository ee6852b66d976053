"""Copy several labelled folders into one (`dataset.py merge`), keeping every label."""

import dataclasses
import os
import shutil

from captcha_keras.data.files import LABELS_CSV
from captcha_keras.data.files import UNSAFE_IN_NAMES
from captcha_keras.data.files import require_empty
from captcha_keras.data.files import write_labels_csv
from captcha_keras.data.tables import format_table


@dataclasses.dataclass
class MergeRow:
    """What `merge_folders` took from one source."""

    source: str
    taken: int
    skipped: int
    renamed: int


def _name_stem(label):
    # A labels-file label may hold characters a file name cannot; such files
    # are named by the merged labels.csv anyway.
    if not label or label != label.strip() or label.startswith(".") or any(c in label for c in UNSAFE_IN_NAMES):
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
    require_empty(out, *(s.root for s in surveys))
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
        rows.append(
            MergeRow(source=survey.root, taken=len(survey.files), skipped=len(survey.problems), renamed=renamed)
        )
    if any(s.labels_file for s in surveys):
        write_labels_csv(os.path.join(out, LABELS_CSV), merged_files, merged_labels)
    return rows


def format_merge(rows):
    """A per-source table of a merge, with a total row."""
    total = MergeRow("total", *(sum(getattr(r, k) for r in rows) for k in ("taken", "skipped", "renamed")))
    return format_table(
        ["source", "taken", "skipped", "renamed"], [[r.source, r.taken, r.skipped, r.renamed] for r in rows + [total]]
    )
