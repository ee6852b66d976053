"""Starting a run from a trained one (`--init-from`): weights copied by layer name."""

import os

import keras

from captcha_keras.runs import BEST_MODEL_FILE
from captcha_keras.runs import RunConfig


def load_source(run_dir):
    """The best Keras model and `RunConfig` of a trained run folder.

    Raises:
        FileNotFoundError: the folder is not a run, or has no `best.keras`
            (a SavedModel alone cannot be trained further).
    """
    config = RunConfig.load(run_dir)
    path = os.path.join(run_dir, BEST_MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{run_dir} has no {BEST_MODEL_FILE}, the trainable model --init-from needs "
            "(a savedmodel/ folder alone only serves predictions)."
        )
    # Importing the losses registers CTCLoss, which the saved model refers to.
    import captcha_keras.models.losses  # noqa: F401

    return keras.models.load_model(path, compile=False), config


def output_layer_names(model):
    """Names of the layers that produce the model's outputs."""
    return {tensor._keras_history.operation.name for tensor in model.outputs}


# ITU-R 601-2 luma, the weights of Pillow's convert("L"), which reads gray images.
LUMA = (0.299, 0.587, 0.114)


def convert_input_channels(old, new):
    """A convolution's weights `old` for the input channels `new` has: gray to RGB or back.

    A gray model's first convolution reads the luma `0.299 R + 0.587 G +
    0.114 B`; spread over RGB with those weights, it gives the same
    activations on a colour image as on its gray conversion, so an RGB run
    from a gray model starts where the gray model is and learns colour from
    there. Back from RGB, the channels' kernels are summed: exact for gray
    images, whose three channels are equal. Other weights come back as
    they are.

    Example:

    >>> import numpy as np
    >>> rgb = convert_input_channels([np.ones((3, 3, 1, 8))], [np.zeros((3, 3, 3, 8))])
    >>> rgb[0][0, 0, :, 0].round(3).tolist()
    [0.299, 0.587, 0.114]
    """
    # Only a convolution that reads the image can differ so: every other layer's inputs are the
    # architecture's own features, the same for both (the run takes its source's architecture).
    if not old or old[0].ndim != 4 or new[0].ndim != 4 or old[0].shape == new[0].shape:
        return old
    (kh, kw, c_old, f_old), (nh, nw, c_new, f_new) = old[0].shape, new[0].shape
    if (kh, kw, f_old) != (nh, nw, f_new) or {c_old, c_new} != {1, 3}:
        return old
    import numpy as np

    if c_new == 3:
        kernel = old[0] * np.asarray(LUMA, old[0].dtype)[None, None, :, None]
    else:
        kernel = old[0].sum(axis=2, keepdims=True)
    return [kernel, *old[1:]]


def transfer_weights(source, target, reset=()):
    """Copies weights from `source` into the layers of `target` with the same name and shapes.

    Args:
        source: `keras.Model`. A trained model.
        target: `keras.Model`. A freshly built one.
        reset: iterable of str. Layer names to leave freshly initialised even
            if they match (an output layer whose classes mean other characters).

    Returns:
        `(copied, rebuilt)`: names of layers with weights that were copied,
        and of those left as initialised.
    """
    reset = set(reset)
    source_layers = {layer.name: layer for layer in source.layers}
    copied, rebuilt = [], []
    for layer in target.layers:
        if not layer.weights:
            continue
        match = source_layers.get(layer.name)
        new, old = layer.get_weights(), match.get_weights() if match is not None else None
        if old is not None and layer.name not in reset:
            old = convert_input_channels(old, new)
        if (
            layer.name in reset
            or old is None
            or len(old) != len(new)
            or any(a.shape != b.shape for a, b in zip(old, new))
        ):
            rebuilt.append(layer.name)
            continue
        layer.set_weights(old)
        copied.append(layer.name)
    return copied, rebuilt


def class_map(source_charset, target_charset, extra_classes, source_extra_classes=None):
    """For each output class of a target model, the source class it starts from, or -1.

    Classes are the charset's characters, then `extra_classes` more (the CTC
    blank; multi-head's "no character"), which map onto the source's extra
    classes where it has them (`source_extra_classes`, default the same).

    Example:

    >>> class_map("ABC", "CAZ", 1)
    [2, 0, -1, 3]
    >>> class_map("AB", "BA", 1, source_extra_classes=0)
    [1, 0, -1]
    """
    if source_extra_classes is None:
        source_extra_classes = extra_classes
    index = {c: i for i, c in enumerate(source_charset)}
    mapped = [index.get(c, -1) for c in target_charset]
    return mapped + [len(source_charset) + k if k < source_extra_classes else -1 for k in range(extra_classes)]


def transfer_output_classes(source_layer, target_layer, mapping):
    """Copies the weights of the classes two charsets share into a rebuilt output layer.

    A model that already reads `A` keeps reading it when the charset changes:
    its column of the softmax layer moves to the new position, and only the
    characters new to it start from the fresh initialisation. Returns how many
    classes were copied.
    """
    old = source_layer.get_weights()
    new = target_layer.get_weights()
    if len(old) != len(new) or any(a.shape[:-1] != b.shape[:-1] for a, b in zip(old, new)):
        return 0
    copied = 0
    for target, source in enumerate(mapping):
        if source < 0:
            continue
        for a, b in zip(old, new):
            b[..., target] = a[..., source]
        copied += 1
    target_layer.set_weights(new)
    return copied
