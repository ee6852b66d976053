"""Find images with the same decoded pixels; copy the unique ones or delete the copies (`dataset.py dedupe`).

Only `delete_duplicates` removes files, and only exact copies (same pixels
and label): which of two labels is right is for a person to decide.
"""

import collections
import csv
import dataclasses
import os

from captcha_keras.data.files import LABELS_CSV
from captcha_keras.data.files import place
from captcha_keras.data.files import require_empty
from captcha_keras.data.files import write_labels_csv


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
    lines = [
        f"{total:,} images, {len(groups):,} duplicate groups, {extra:,} removable copies, "
        f"{len(conflicts):,} label conflicts"
    ]
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
    require_empty(out, survey.root)
    removed = _removed(groups)
    kept = [(file, label) for file, label in zip(survey.files, survey.labels) if file not in removed]
    for file, _ in kept:
        place(os.path.join(survey.root, file), os.path.join(out, file), link=False)
    if survey.labels_file:
        write_labels_csv(os.path.join(out, LABELS_CSV), [f for f, _ in kept], [label for _, label in kept])
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
