"""Training targets for the two model families, from label texts."""

import numpy as np

from captcha_keras.charset import encode_labels
from captcha_keras.models.vgg_multihead import head_names

FAMILIES = ("ctc", "multihead")


def make_targets(texts, charset, family, max_length):
    """Builds the targets a model family trains on.

    Args:
        texts: list of str. The labels.
        charset: `Charset`. The alphabet.
        family: str. `"ctc"` or `"multihead"`.
        max_length: int. The longest label the model reads.

    Returns:
        For `"ctc"`, an int32 array `(batch, max_length)` padded with -1.
        For `"multihead"`, a dict `{"c1": (batch,) int32, ...}`; positions past
        the end of a shorter label hold `charset.blank_index` ("no character").
    """
    labels = encode_labels(texts, charset, max_length)
    if family == "ctc":
        return labels
    if family == "multihead":
        labels = np.where(labels < 0, charset.blank_index, labels)
        return {name: labels[:, i] for i, name in enumerate(head_names(max_length))}
    raise ValueError(f"Unknown model family. Expected one of {FAMILIES}. Received: family={family!r}")
