"""Exporting trained models for serving without this package's training code."""

import os
import shutil


def _folded_pairs(model):
    """`{conv name: batch-norm layer}` for each BatchNormalization that reads
    a Conv2D whose output goes nowhere else."""
    from keras import layers

    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        producer = layer._inbound_nodes[0].input_tensors[0]._keras_history.operation
        if (
            isinstance(producer, layers.Conv2D)
            and producer.get_config().get("activation") == "linear"
            and len(producer._outbound_nodes) == 1
        ):
            pairs[producer.name] = layer
    return pairs


def _passthrough_layer():
    from keras import layers

    class Folded(layers.Layer):
        """Where a folded BatchNormalization was: passes its input through.

        (`layers.Identity` refuses the `mask` argument the clone passes on.)
        """

        def call(self, inputs, mask=None, training=None):
            return inputs

        def compute_output_shape(self, input_shape):
            return input_shape

    return Folded


def fold_batch_norms(model):
    """A float32 inference copy of `model` with each BatchNormalization folded
    into the convolution before it.

    Keras 3 runs an inference-mode BatchNormalization as separate elementwise
    ops, a pass over every activation map; folded into the kernel and a bias,
    TensorFlow fuses what is left (Conv2D + BiasAdd + ReLU) into one op. The
    outputs are the same up to float32 rounding.

    Args:
        model: functional `keras.Model` (float32 weights).

    Returns:
        A new `keras.Model` with the same inputs, outputs and output names.
    """
    import keras
    import numpy as np
    from keras import layers

    _Folded = _passthrough_layer()
    pairs = _folded_pairs(model)
    folded_norms = {norm.name for norm in pairs.values()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
            return layer.__class__.from_config(config)
        if layer.name in folded_norms:
            return _Folded(name=layer.name)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = copy.get_layer(layer.name)
        if layer.name in folded_norms:
            continue
        if layer.name not in pairs:
            target.set_weights(layer.get_weights())
            continue
        norm = pairs[layer.name]
        kernel = layer.kernel.numpy()
        bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1], "float32")
        gamma = norm.gamma.numpy() if norm.scale else 1.0
        beta = norm.beta.numpy() if norm.center else 0.0
        scale = gamma / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
        target.set_weights([kernel * scale, (bias - norm.moving_mean.numpy()) * scale + beta])
    return copy


def export_savedmodel(model, path):
    """Exports a TF SavedModel whose `serve` takes 0-255 float32 images.

    `serve` (also the `serving_default` signature) takes a float32 batch
    `(n, height, width, channels)` and returns what the Keras model returns:
    a tensor (CTC) or a dict of tensors by output name (multi-head).

    Written with `tf.saved_model.save` rather than `model.export`, which on
    Keras 3 stores every weight twice (keras-team/keras#23553): twice the
    disk and twice the memory in every process that loads the model. Batch
    normalizations are folded into their convolutions first
    (`fold_batch_norms`), which serves faster on a CPU.

    Args:
        model: `keras.Model`. A trained model (its first layer rescales).
        path: str. Output folder; replaced if it exists.

    Returns:
        `path`.
    """
    import tensorflow as tf

    model = fold_batch_norms(model)
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


def reexport_run(run_dir):
    """Writes a run's `savedmodel/` anew from its `best.keras`.

    For runs exported before the batch norms were folded, or whose
    SavedModel was lost; the old SavedModel stays until the new one is
    written.

    Returns:
        The SavedModel's path.

    Raises:
        FileNotFoundError: when the run has no `best.keras`.
    """
    import keras

    from captcha_keras.finetune import BEST
    from captcha_keras.prediction import SAVEDMODEL_DIR

    best = os.path.join(run_dir, BEST)
    if not os.path.isfile(best):
        raise FileNotFoundError(f"{run_dir} has no {BEST}: is it a run folder?")
    model = keras.models.load_model(best, compile=False)
    return export_savedmodel(model, os.path.join(run_dir, SAVEDMODEL_DIR))
