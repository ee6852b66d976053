"""Folding batch normalizations into the convolutions before them, for serving."""


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
