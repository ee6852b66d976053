"""Per-image normalisation inside the model, so that every export carries it."""

import keras
from keras import layers
from keras import ops

NORMALIZATIONS = ("none", "standardize", "stretch")


@keras.saving.register_keras_serializable(package="captcha_keras")
class ImageNormalization(layers.Layer):
    """Normalises each image by its own statistics.

    - `"standardize"`: zero mean and unit deviation per image (the deviation
      floored at `1 / sqrt(pixels)`, as `tf.image.per_image_standardization`),
      so that a dark, faint or low-contrast captcha reaches the first
      convolution on the same scale as black on white;
    - `"stretch"`: each image's darkest pixel to 0 and brightest to 1;
    - `"none"`: unchanged.

    Statistics run over height, width and channels: colour keeps its
    relative balance. The layer has no weights, and since it sits in the
    model, the SavedModel, ONNX and LiteRT exports normalise the same way.

    Args:
        mode: str. One of `NORMALIZATIONS`.
    """

    def __init__(self, mode="standardize", **kwargs):
        super().__init__(**kwargs)
        if mode not in NORMALIZATIONS:
            raise ValueError(f"Unknown normalization. Expected one of {NORMALIZATIONS}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, images):
        if self.mode == "none":
            return images
        axes = (1, 2, 3)
        if self.mode == "standardize":
            mean = ops.mean(images, axis=axes, keepdims=True)
            std = ops.std(images, axis=axes, keepdims=True)
            pixels = images.shape[1] * images.shape[2] * images.shape[3]
            return (images - mean) / ops.maximum(std, 1.0 / pixels**0.5)
        low = ops.min(images, axis=axes, keepdims=True)
        high = ops.max(images, axis=axes, keepdims=True)
        return (images - low) / ops.maximum(high - low, 1e-3)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
