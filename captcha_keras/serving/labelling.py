"""Labelling a folder of unlabelled captchas from the web page (`serve.py --label-dir DIR`).

The model reads every image once; the page then walks the unlabelled ones,
least confident first, with the reading pre-filled, so that a few minutes of
labelling fix the most errors. Labels go to `DIR/labels.csv` (`file,label`
rows, the format the folder reader takes): the whole file is written anew to
a temporary file and moved over the old one, so a crash never leaves half a
file, and rows keep their order with new ones appended. No image is ever
renamed, moved or deleted. A restart reads `labels.csv` back and goes on
where it stopped.

Confidences are calibrated (`Reader`), so "accept every reading at or above
X" can say beforehand how many mistakes it lets in: a reading of confidence
c is wrong with probability 1 - c, and the expected number of mistakes
among the accepted readings is the sum of 1 - c over them
(`accept_preview`). `accept` writes them all in one rewrite of `labels.csv`.
"""

import csv
import os
import tempfile
import threading

import numpy as np

from captcha_keras.data.labels import characters_outside
from captcha_keras.data.labels import read_labels_file
from captcha_keras.images import IMAGE_EXTENSIONS
from captcha_keras.images import ImageError
from captcha_keras.serving.errors import ApiError

LABELS_FILE = "labels.csv"


class LabelSession:
    """The labelling state of one folder.

    Args:
        folder: str. The folder of images (not searched recursively).
    """

    def __init__(self, folder):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"--label-dir {folder}: no such folder.")
        self.folder = folder
        self.files = sorted(
            n
            for n in os.listdir(folder)
            if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, n))
        )
        self.path = os.path.join(folder, LABELS_FILE)
        self.labels = {}
        if os.path.isfile(self.path):
            self.labels, problems = read_labels_file(self.path)
            if problems:
                where, reason = problems[0]
                raise ValueError(f"{self.path} has rows it cannot take ({where}: {reason}); fix them first.")
        self.readings = {}  # file -> (model, text, confidence) or (model, None, error)
        self.model = None
        self._lock = threading.Lock()

    def read_all(self, reader, batch_size=64):
        """Reads every image with `reader` (in a worker thread: it takes a while on a large folder)."""
        readings = {}
        for start in range(0, len(self.files), batch_size):
            names = self.files[start : start + batch_size]
            arrays, good = [], []
            for name in names:
                try:
                    arrays.append(reader.preprocess(os.path.join(self.folder, name)))
                    good.append(name)
                except ImageError as error:
                    readings[name] = (None, str(error).removeprefix(f"{os.path.join(self.folder, name)}: "))
            if arrays:
                for name, reading in zip(good, reader.read_arrays(np.stack(arrays))):
                    readings[name] = (reading.text, reading.confidence)
        with self._lock:
            self.readings, self.model = readings, reader

    def queue(self):
        """The unlabelled images, least confident reading first (unreadable ones last)."""
        items = []
        for name in self.files:
            if name in self.labels:
                continue
            text, confidence = self.readings.get(name, (None, None))
            items.append(
                {
                    "file": name,
                    "text": text or "",
                    "confidence": confidence if text is not None else None,
                    "error": confidence if text is None and name in self.readings else None,
                }
            )
        return sorted(items, key=lambda i: (i["confidence"] is None, i["confidence"] or 0.0, i["file"]))

    def status(self):
        """Progress: images, labelled, and how many labels the model's reading already had right."""
        labelled = [n for n in self.files if n in self.labels]
        agreed = sum(self.readings.get(n, (None,))[0] == self.labels[n] for n in labelled)
        return {
            "folder": self.folder,
            "total": len(self.files),
            "labelled": len(labelled),
            "model_right": agreed,
            "read": len(self.readings) == len(self.files),
            "model": self.model.name if self.model else None,
            "charset": self.model.charset.characters if self.model else None,
            "labels_file": self.path,
        }

    def image_path(self, name):
        """The path of one of the folder's images; 404 for any other name (no path tricks)."""
        if name not in self.files:
            raise ApiError(404, f"{name!r} is not an image of the label folder.")
        return os.path.join(self.folder, name)

    def check_label(self, label):
        """Raises a 400 `ApiError` unless `label` is a line of text in the model's charset."""
        if not isinstance(label, str) or not label.strip() or label != label.strip() or "\n" in label:
            raise ApiError(400, "A label is a non-empty line of text without outer spaces.")
        charset = self.model.charset.characters if self.model else None
        if charset is not None and characters_outside(label, charset):
            raise ApiError(
                400,
                f"The label {label!r} uses {characters_outside(label, charset)!r}, outside the charset {charset!r}.",
            )

    def save(self, name, label):
        """Records `label` for image `name` and writes `labels.csv` atomically.

        Raises:
            ApiError: 404 an unknown image; 400 an empty label, or characters
                outside the model's charset.
        """
        self.image_path(name)
        self.check_label(label)
        with self._lock:
            labels = dict(self.labels)
            labels[name] = label
            write_labels(self.path, labels)
            self.labels = labels
        return self.status()

    def acceptable(self, min_confidence):
        """The queued images whose reading is at least `min_confidence` confident: `(file, text, confidence)`,
        least confident first (the queue's order)."""
        return [
            (item["file"], item["text"], item["confidence"])
            for item in self.queue()
            if item["text"] and item["confidence"] is not None and item["confidence"] >= min_confidence
        ]

    def accept_preview(self, min_confidence):
        """What `accept(min_confidence)` would do: how many readings it would write as labels, and how many
        of them the calibration expects to be wrong.

        Example:

        >>> session.accept_preview(0.99)
        {'min_confidence': 0.99, 'count': 212, 'expected_mistakes': 0.31, 'queued': 300}
        """
        items = self.acceptable(min_confidence)
        return {
            "min_confidence": min_confidence,
            "count": len(items),
            "expected_mistakes": _expected_mistakes(items),
            "queued": len(self.queue()),
        }

    def accept(self, min_confidence):
        """Writes every queued reading at least `min_confidence` confident as its image's label, in one
        atomic rewrite of `labels.csv`; returns what was accepted and the new `status()`."""
        with self._lock:
            # Chosen under the lock: a label saved meanwhile is neither overwritten nor lost.
            items = self.acceptable(min_confidence)
            for _, text, _ in items:
                self.check_label(text)
            if items:
                labels = dict(self.labels)
                labels.update((name, text) for name, text, _ in items)
                write_labels(self.path, labels)
                self.labels = labels
        return {
            "min_confidence": min_confidence,
            "accepted": len(items),
            "expected_mistakes": _expected_mistakes(items),
            "files": [name for name, _, _ in items],
            "status": self.status(),
        }


def _expected_mistakes(items):
    """The sum of 1 - confidence over `(file, text, confidence)` items: the mistakes a calibrated model
    expects among them."""
    return sum(1.0 - confidence for _, _, confidence in items)


def write_labels(path, labels):
    """Writes `{file: label}` as `file,label` rows: a temporary file in the same folder, then a rename."""
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=".labels-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["file", "label"])
            writer.writerows(labels.items())
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
