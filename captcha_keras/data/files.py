"""Writing dataset folders: links or copies, `labels.csv`, and the checks
that keep a tool from writing over images or into its own source."""

import csv
import os
import shutil

from captcha_keras.data.folder import list_folder_images
from captcha_keras.data.labels import find_labels_file

# Characters that would turn a label into a path or an invalid file name.
UNSAFE_IN_NAMES = "/\\\0"
# Written by split, dedupe --out and merge when the sources use labels files.
LABELS_CSV = "labels.csv"


def place(source, target, link):
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


def write_labels_csv(path, files, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file", "label"])
        writer.writerows(zip(files, labels))


def require_empty(out, *sources):
    real = os.path.realpath(out)
    if any(real == os.path.realpath(s) for s in sources):
        raise ValueError(f"--out must be another folder than the source(s). Received: --out {out}")
    if os.path.isfile(out):
        raise FileExistsError(f"{out} is a file, not a folder.")
    if os.path.isdir(out) and (list_folder_images(out) or find_labels_file(out)):
        raise FileExistsError(f"{out} already holds images or a labels file; choose an empty folder.")
