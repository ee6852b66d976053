"""CTC loss for variable-length labels, with Keras 3's own `ops.ctc_loss`."""

import keras
from keras import ops

from captcha_keras.charset import PAD


@keras.saving.register_keras_serializable(package="captcha_keras")
class CTCLoss(keras.losses.Loss):
    """CTC loss on softmax outputs and `PAD`-padded integer labels.

    `keras.losses.CTC` takes every label to be as long as the label matrix and
    the blank to be class 0; captcha labels vary in length and this project
    keeps the blank last (as the reference did), so the lengths are counted
    from the padding here.

    Args:
        blank_index: int. Index of the blank class (the last one).
        name: str. Defaults to `"ctc_loss"`.

    Example:

    >>> loss = CTCLoss(blank_index=36)
    """

    def __init__(self, blank_index, name="ctc_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.blank_index = blank_index

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        label_length = ops.sum(ops.cast(ops.not_equal(y_true, PAD), "int32"), axis=-1)
        labels = ops.where(ops.equal(y_true, PAD), 0, y_true)
        batch = ops.shape(y_pred)[0]
        logit_length = ops.full((batch,), ops.shape(y_pred)[1], dtype="int32")
        # The model outputs probabilities; their log is a valid input for
        # `ctc_loss`, which applies log-softmax (a no-op on log-probabilities).
        log_probs = ops.log(ops.clip(ops.cast(y_pred, "float32"), 1e-8, 1.0))
        return ops.ctc_loss(labels, log_probs, label_length, logit_length, mask_index=self.blank_index)

    def get_config(self):
        config = super().get_config()
        config.update(blank_index=self.blank_index)
        return config
