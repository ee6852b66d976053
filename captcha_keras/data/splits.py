"""The folder data of a training run: train, validation and test parts.

`--data DIR` trains on a folder; validation comes from `--val-data DIR` or a
seeded `--val-split` of the training folder (the held-out files are listed in
the run's `heldout.txt`); `--test-data DIR` is scored once, at the end.
"""

import dataclasses
import os

from captcha_keras.data.folder import read_folder
from captcha_keras.data.folder import split_indices
from captcha_keras.runs import HELDOUT_FILE

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


def load_splits(
    data,
    *,
    width,
    height,
    channels,
    seed,
    val_data=None,
    val_split=None,
    test_data=None,
    keep_aspect=False,
    charset=None,
    strict=False,
):
    """Reads the folders of a run and makes the validation split.

    Args:
        data: str. Training folder.
        width, height, channels: int. The model input.
        seed: int. Seed of the validation split.
        val_data: str or None. Validation folder. Defaults to None.
        val_split: float or None. Share of `data` held out for validation when
            `val_data` is None (None: `DEFAULT_VAL_SPLIT`). Defaults to None.
        test_data: str or None. Folder scored at the end of the run. Defaults to None.
        keep_aspect: bool. Pad images to the input's aspect ratio instead of
            stretching them. Defaults to False.
        charset: str or None. Allowed label characters (None: any). Defaults to None.
        strict: bool. Bad files are an error instead of being skipped. Defaults to False.

    Returns:
        A `FolderSplits`.

    Example:

    >>> splits = load_splits("labelled/", width=128, height=64, channels=1, seed=0, val_split=0.1)
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
