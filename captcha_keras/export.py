"""Exporting trained models for serving without this package's training code."""

import os
import shutil


def export_savedmodel(model, path):
    """Exports a TF SavedModel whose `serve` takes 0-255 float32 images.

    `serve` (also the `serving_default` signature) takes a float32 batch
    `(n, height, width, channels)` and returns what the Keras model returns:
    a tensor (CTC) or a dict of tensors by output name (multi-head).

    Written with `tf.saved_model.save` rather than `model.export`, which on
    Keras 3 stores every weight twice (keras-team/keras#23553): twice the
    disk and twice the memory in every process that loads the model.

    Args:
        model: `keras.Model`. A trained model (its first layer rescales).
        path: str. Output folder; replaced if it exists.

    Returns:
        `path`.
    """
    import tensorflow as tf

    module = tf.Module()
    # The very `tf.Variable`s the traced function captures: tracking these,
    # not the Keras wrappers around them, is what lets the checkpoint write
    # each weight once.
    module.model_variables = [variable.value for variable in model.variables]
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")

    @tf.function(input_signature=[spec])
    def serve(images):
        return model(images, training=False)

    module.serve = serve
    # Written beside the target and swapped in: a failed export keeps the old one.
    temporary = f"{path.rstrip(os.sep)}.tmp"
    if os.path.exists(temporary):
        shutil.rmtree(temporary)
    tf.saved_model.save(module, temporary, signatures={"serving_default": serve})
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(temporary, path)
    return path
