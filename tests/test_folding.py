"""captcha_keras.export.folding: which batch normalizations fold into their convolution, and the folded weights.

Small functional models with known statistics, so that the folded kernel and bias can be written out;
tests/test_export.py folds the project's own architectures.
"""

import keras
import numpy as np
import pytest
from keras import layers

from captcha_keras.export.folding import fold_batch_norms

EPSILON = 1e-3


def set_statistics(norm, seed):
    """Statistics far from the initial ones (gamma 1, beta 0, mean 0, variance 1), so that a wrong fold shows."""
    rng = np.random.default_rng(seed)
    n = norm.moving_mean.shape[0]
    weights = []
    if norm.scale:
        weights.append(rng.uniform(0.5, 2, n))
    if norm.center:
        weights.append(rng.normal(0, 1, n))
    norm.set_weights(weights + [rng.normal(0, 1, n), rng.uniform(0.1, 4, n)])


def conv_then_norm(use_bias=True, scale=True, center=True, activation=None):
    inputs = keras.Input((6, 8, 2), name="image")
    x = layers.Conv2D(3, 3, padding="same", use_bias=use_bias, activation=activation, name="conv")(inputs)
    x = layers.BatchNormalization(epsilon=EPSILON, scale=scale, center=center, name="norm")(x)
    outputs = layers.Activation("relu", name="out")(x)
    model = keras.Model(inputs, outputs)
    set_statistics(model.get_layer("norm"), 1)
    if use_bias:
        model.get_layer("conv").bias.assign(np.random.default_rng(2).normal(0, 1, 3))
    return model


def batch(seed=3):
    return np.random.default_rng(seed).normal(0, 1, (2, 6, 8, 2)).astype("float32")


def assert_same_outputs(model, folded):
    for a, b in zip(keras.tree.flatten(model(batch(), training=False)), keras.tree.flatten(folded(batch()))):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)


def kinds(model):
    return {layer.name: type(layer).__name__ for layer in model.layers}


@pytest.mark.parametrize("use_bias, scale, center", [(True, True, True), (False, True, True), (True, False, False)])
def test_the_norm_becomes_the_convolutions_kernel_scale_and_bias(use_bias, scale, center):
    model = conv_then_norm(use_bias, scale, center)
    conv, norm = model.get_layer("conv"), model.get_layer("norm")
    folded = fold_batch_norms(model)
    gamma = norm.gamma.numpy() if scale else 1.0
    beta = norm.beta.numpy() if center else 0.0
    factor = gamma / np.sqrt(norm.moving_variance.numpy() + EPSILON)
    bias = conv.bias.numpy() if use_bias else np.zeros(3, "float32")
    kernel, folded_bias = folded.get_layer("conv").get_weights()
    np.testing.assert_allclose(kernel, conv.kernel.numpy() * factor, rtol=1e-6)
    np.testing.assert_allclose(folded_bias, (bias - norm.moving_mean.numpy()) * factor + beta, rtol=1e-6, atol=1e-7)
    # The norm's place holds a pass-through under the same name, with no weights.
    assert kinds(folded) == {"image": "InputLayer", "conv": "Conv2D", "norm": "Folded", "out": "Activation"}
    assert folded.get_layer("norm").weights == [] and folded.get_layer("conv").use_bias
    assert_same_outputs(model, folded)


def test_the_model_given_is_left_as_it_was():
    model = conv_then_norm(use_bias=False)
    before = [w.copy() for w in model.get_weights()]
    fold_batch_norms(model)
    assert kinds(model)["norm"] == "BatchNormalization" and not model.get_layer("conv").use_bias
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_convolution_with_an_activation_keeps_its_norm():
    # relu before the norm: scaling the kernel cannot stand for the norm's scaling after it.
    model = conv_then_norm(activation="relu")
    folded = fold_batch_norms(model)
    assert kinds(folded)["norm"] == "BatchNormalization" and len(folded.get_layer("norm").get_weights()) == 4
    assert_same_outputs(model, folded)


def test_a_convolution_read_elsewhere_too_keeps_its_norm():
    inputs = keras.Input((6, 8, 2), name="image")  # named: fold_batch_norms finds each layer of the copy by name
    raw = layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    normed = layers.BatchNormalization(epsilon=EPSILON, name="norm")(raw)
    # The skip path needs the convolution's own output, which folding would change.
    model = keras.Model(inputs, layers.Add(name="sum")([normed, raw]))
    set_statistics(model.get_layer("norm"), 4)
    folded = fold_batch_norms(model)
    assert kinds(folded)["norm"] == "BatchNormalization"
    assert_same_outputs(model, folded)


def test_norms_after_other_layers_stay_and_every_fold_is_independent():
    inputs = keras.Input((6, 8, 2), name="image")  # named: fold_batch_norms finds each layer of the copy by name
    x = layers.BatchNormalization(epsilon=EPSILON, name="input_norm")(inputs)  # reads the input, no convolution
    x = layers.Conv2D(4, 3, padding="same", name="conv1")(x)
    x = layers.BatchNormalization(epsilon=EPSILON, name="norm1")(x)
    x = layers.Conv2D(3, 3, padding="same", name="conv2")(x)
    x = layers.BatchNormalization(epsilon=EPSILON, name="norm2")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(5, name="dense")(x)
    outputs = layers.BatchNormalization(epsilon=EPSILON, name="dense_norm")(x)
    model = keras.Model(inputs, {"probs": layers.Softmax(name="probs")(outputs)})
    for seed, name in enumerate(["input_norm", "norm1", "norm2", "dense_norm"]):
        set_statistics(model.get_layer(name), seed)
    folded = fold_batch_norms(model)
    found = kinds(folded)
    assert [found[name] for name in ("input_norm", "norm1", "norm2", "dense_norm")] == [
        "BatchNormalization",
        "Folded",
        "Folded",
        "BatchNormalization",
    ]
    assert folded.output_names == model.output_names == ["probs"]
    # The two folded norms' four vectors each (of 4 and 3 channels) are gone; the convolutions had a bias already.
    assert folded.count_params() == model.count_params() - 4 * (4 + 3)
    assert_same_outputs(model, folded)
