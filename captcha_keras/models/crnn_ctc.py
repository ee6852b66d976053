"""Conv stack + bidirectional GRU, trained with CTC (ypwhs/captcha_break)."""

import keras
from keras import layers

from captcha_keras.models.blocks import apply_conv_stack
from captcha_keras.models.blocks import apply_input
from captcha_keras.models.blocks import apply_sequence_head
from captcha_keras.models.blocks import check_input_size

REFERENCE_POOLS = ((2, 2), (2, 2), (2, 2), (2, 1), (2, 1))


def build_crnn_ctc(
    height=64,
    width=128,
    channels=3,
    num_classes=37,
    filters=(32, 64, 128, 256, 256),
    pools=REFERENCE_POOLS,
    convs_per_block=2,
    stem_stride=1,
    projection=None,
    rnn_units=128,
    rnn_layers=2,
    unroll=False,
    use_bias=True,
    normalize="none",
    name="crnn_ctc",
):
    """Builds the CTC recognizer: conv blocks, width as time, BiGRUs, softmax.

    With the defaults (128x64x3, 36 characters + blank) this is the
    reference architecture: 16 time steps, 3,157,317 parameters.

    Args:
        height: int. Image height. Defaults to 64.
        width: int. Image width. Defaults to 128.
        channels: int. 1 (grayscale) or 3. Defaults to 3.
        num_classes: int. The charset plus the CTC blank (the last index).
        filters: tuple of int. Filters of each block.
        pools: tuple of (int, int). Max-pool of each block; `(2, 1)` halves
            only the height, keeping time steps.
        convs_per_block: int. Convolutions per block. Defaults to 2.
        stem_stride: int. Stride of the first convolution. Defaults to 1.
        projection: int or None. A Dense layer that shrinks each time step's
            features before the GRUs. Defaults to None (the reference).
        rnn_units: int. Units of each GRU direction. Defaults to 128.
        rnn_layers: int. Stacked bidirectional GRUs. Defaults to 2.
        unroll: bool. Unroll the GRUs; on a CPU this trains about twice as
            fast at 16 steps. Defaults to False.
        use_bias: bool. Conv biases, as in the reference. Defaults to True.
        normalize: str. Per-image normalisation after the rescaling:
            `"none"`, `"standardize"` or `"stretch"` (`ImageNormalization`).
        name: str. The model's name.

    Returns:
        An uncompiled `keras.Model` whose output `probs` is
        `(batch, time_steps, num_classes)` softmax probabilities.

    Example:

    >>> model = build_crnn_ctc()
    >>> model.output_shape, model.count_params()
    ((None, 16, 37), 3157317)
    """
    check_input_size(height, width, stem_stride, pools, name)
    inputs, x = apply_input(height, width, channels, normalize)
    x = apply_conv_stack(x, filters, pools, convs_per_block, stem_stride, use_bias)
    x = apply_sequence_head(x, rnn_units, rnn_layers, projection, unroll)
    # float32 even under mixed precision: the loss takes the log of these.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)
