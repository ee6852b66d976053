"""VGG-style CNN with one softmax head per character (ypwhs/captcha_break)."""

import keras
from keras import layers

from captcha_keras.models.blocks import apply_conv_stack
from captcha_keras.models.blocks import apply_input
from captcha_keras.models.blocks import apply_sequence_head
from captcha_keras.models.blocks import check_input_size


def head_names(num_heads):
    """Names of the multi-head model's outputs, one per character: `c1` .. `cN`.

    The model owns these names; the training targets (`data.targets`) take
    them from here, so that a model never needs to know where its data
    comes from.

    Example:

    >>> head_names(3)
    ['c1', 'c2', 'c3']
    """
    return [f"c{i + 1}" for i in range(num_heads)]


def build_vgg_multihead(
    height=64,
    width=128,
    channels=3,
    num_classes=36,
    num_heads=4,
    filters=(32, 64, 128, 256, 256),
    pools=None,
    convs_per_block=2,
    stem_stride=1,
    dropout=0.0,
    use_bias=True,
    rnn_units=None,
    unroll=False,
    normalize="none",
    name="vgg_multihead",
):
    """Builds the multi-head CNN: conv blocks, Flatten, one Dense softmax per character.

    Optionally a BiGRU reads the conv features before the Flatten (`rnn_units`).

    With the defaults (128x64x3, 36 classes, 4 heads) this is the reference
    architecture: 2,653,360 parameters.

    Args:
        height: int. Image height. Defaults to 64.
        width: int. Image width. Defaults to 128.
        channels: int. 1 (grayscale) or 3. Defaults to 3.
        num_classes: int. Classes per head (the charset, plus one "no
            character" class for variable lengths). Defaults to 36.
        num_heads: int. The longest label. Defaults to 4.
        filters: tuple of int. Filters of each block.
        pools: tuple of (int, int) or None, one per block. Max-pool of each
            block (None in the tuple: no pooling). Defaults to None: a 2x2
            max-pool after every block, as the reference.
        convs_per_block: int. Convolutions per block. Defaults to 2.
        stem_stride: int. Stride of the very first convolution. Defaults to 1.
        dropout: float. Dropout before the heads. Defaults to 0.
        use_bias: bool. Conv biases, as in the reference. Defaults to True.
        rnn_units: int or None. A bidirectional GRU of this many units per
            direction reads the feature map's columns left to right before
            the heads. A flat Dense head has to learn every place a
            character can sit; the GRU tells it where the previous
            characters ended. Defaults to None (the reference: Flatten only).
        unroll: bool. Unroll that GRU (faster on a CPU at 16 steps).
        normalize: str. Per-image normalisation after the rescaling:
            `"none"`, `"standardize"` or `"stretch"` (`ImageNormalization`).
        name: str. The model's name.

    Returns:
        An uncompiled `keras.Model` with outputs named `c1`..`cN`.

    Example:

    >>> model = build_vgg_multihead()
    >>> model.count_params()
    2653360
    """
    if pools is None:
        pools = [(2, 2)] * len(filters)
    check_input_size(height, width, stem_stride, pools, name)
    inputs, x = apply_input(height, width, channels, normalize)
    x = apply_conv_stack(x, filters, pools, convs_per_block, stem_stride, use_bias)
    if rnn_units:
        x = apply_sequence_head(x, rnn_units, unroll=unroll)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    # float32 even under mixed precision: the loss takes the log of these.
    outputs = {
        head: layers.Dense(num_classes, activation="softmax", dtype="float32", name=head)(x)
        for head in head_names(num_heads)
    }
    return keras.Model(inputs, outputs, name=name)
