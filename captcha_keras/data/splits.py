"""The folder data of a training run: train, validation and test parts.

`--data DIR` trains on a folder; validation comes from `--val-data DIR` or a
seeded `--val-split` of the training folder (the held-out files are listed in
the run's `heldout.txt`); `--test-data DIR` is scored once, at the end.
"""

import dataclasses
import os

from captcha_keras.data.folder import read_folder
from captcha_keras.data.folder import split_indices

HELDOUT_FILE = "heldout.txt"
# Validation share of --data when neither --val-data nor --val-split is given.
DEFAULT_VAL_SPLIT = 0.1


@dataclasses.dataclass
class FolderSplits:
    """Folder data of a run; `test` is None unless a test folder was given."""

    train: object
    validation: object
    test: object = None
    heldout: list = dataclasses.field(default_factory=list)

    @property
    def texts(self):
        """Every label of train and validation, for the charset and lengths."""
        return self.train.texts + self.validation.texts

    def describe(self):
        parts = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        return "\n".join(f"{name}: {data.summary()}" for name, data in parts if data is not None)


def load_splits(data, val_data, val_split, test_data, width, height, channels, keep_aspect, charset, strict, seed):
    """Reads the folders of a run and makes the validation split.

    Args:
        data: str. Training folder.
        val_data: str or None. Validation folder.
        val_split: float or None. Share of `data` held out for validation when
            `val_data` is None (default `DEFAULT_VAL_SPLIT`).
        test_data: str or None. Folder scored at the end of the run.
        width, height, channels, keep_aspect: the model input.
        charset: str or None. Allowed label characters (None: any).
        strict: bool. Bad files are an error instead of being skipped.
        seed: int. Seed of the validation split.

    Returns:
        A `FolderSplits`.
    """
    read = dict(width=width, height=height, channels=channels, keep_aspect=keep_aspect, charset=charset, strict=strict)
    train = read_folder(data, progress="reading --data", **read)
    heldout = []
    if val_data:
        if val_split:
            raise ValueError("Give --val-data or --val-split, not both.")
        validation = read_folder(val_data, progress="reading --val-data", **read)
    else:
        fraction = DEFAULT_VAL_SPLIT if val_split is None else val_split
        if not 0.0 < fraction < 1.0 or len(train.files) < 2:
            raise ValueError(
                f"--val-split must be between 0 and 1 and --data must hold at least 2 images "
                f"(got {fraction} and {len(train.files)})."
            )
        kept, held = split_indices(len(train.files), fraction, seed)
        validation = train.subset(held)
        validation.problems = []
        train = train.subset(kept)
        heldout = validation.files
    # Test labels are not filtered by the charset: an image the model cannot
    # read counts as an error, as scripts/evaluate.py --data counts it.
    test = read_folder(test_data, progress="reading --test-data", **dict(read, charset=None)) if test_data else None
    return FolderSplits(train=train, validation=validation, test=test, heldout=heldout)


def write_heldout(run_dir, splits):
    """Writes `heldout.txt`: the --data files kept out of training, one a line."""
    with open(os.path.join(run_dir, HELDOUT_FILE), "w") as f:
        f.writelines(f"{name}\n" for name in splits.heldout)
