import keras
import numpy as np
import pytest

from captcha_keras.charset import PAD
from captcha_keras.models.losses import CTCLoss


def one_hot_path(path, classes=4, p=0.97):
    """Probabilities that follow a class path with confidence p."""
    probs = np.full((len(path), classes), (1 - p) / (classes - 1), dtype="float32")
    probs[np.arange(len(path)), path] = p
    return probs


def test_padded_labels_give_each_sample_its_own_length():
    loss = CTCLoss(blank_index=3, reduction=None)
    # Sample 0 reads "0 1" (path 0,3,1,3), sample 1 reads "2" (path 3,2,3,3).
    y_pred = np.stack([one_hot_path([0, 3, 1, 3]), one_hot_path([3, 2, 3, 3])])
    padded = np.array([[0, 1], [2, PAD]])
    values = keras.ops.convert_to_numpy(loss(padded, y_pred))
    single = keras.ops.convert_to_numpy(loss(np.array([[2]]), y_pred[1:]))
    assert values[1] == pytest.approx(single[0], rel=1e-5)
    # A label the prediction supports costs far less than one it contradicts.
    wrong = keras.ops.convert_to_numpy(loss(np.array([[1, 0], [0, PAD]]), y_pred))
    assert (values < 1.0).all() and (wrong > 3.0).all()


def test_config_round_trip():
    loss = CTCLoss(blank_index=36)
    restored = CTCLoss.from_config(loss.get_config())
    assert restored.blank_index == 36 and restored.name == "ctc_loss"
