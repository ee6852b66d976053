"""Residual conv stack + bidirectional GRU, trained with CTC (a CPU-sized ResNet CRNN)."""

import keras
from keras import layers

from captcha_keras.models.blocks import apply_conv_block
from captcha_keras.models.blocks import apply_input
from captcha_keras.models.blocks import apply_residual_block
from captcha_keras.models.blocks import apply_sequence_head
from captcha_keras.models.blocks import check_input_size

# Each stage's downsampling: two halvings of both axes, then two of the
# height only, so that a 128-pixel-wide image leaves 16 time steps.
RESNET_STRIDES = (1, 2, 2, (2, 1), (2, 1))


def build_crnn_resnet(
    height=64,
    width=128,
    channels=1,
    num_classes=37,
    filters=(32, 64, 96, 128, 192),
    blocks=(1, 1, 2, 1, 1),
    strides=RESNET_STRIDES,
    stem_filters=16,
    projection=256,
    rnn_units=128,
    rnn_layers=1,
    unroll=True,
    normalize="none",
    name="crnn_resnet",
):
    """Builds a ResNet CRNN: a strided stem, stages of basic blocks, BiGRUs, softmax.

    The design's tutorial trains a ResNet34 CRNN; ResNet34 (21M parameters,
    3.6 GFLOPs at 224x224) is far too slow for a CPU budget, so this keeps
    its ingredients (basic blocks with identity shortcuts, strided
    convolutions instead of pooling, BatchNorm) at the width of the fast
    VGG stack: 6 blocks, 12 convolutions.

    Args:
        height: int. Image height. Defaults to 64.
        width: int. Image width. Defaults to 128.
        channels: int. 1 (grayscale) or 3. Defaults to 1.
        num_classes: int. The charset plus the CTC blank (the last index).
        filters: tuple of int. Filters of each stage.
        blocks: tuple of int. Basic blocks in each stage.
        strides: tuple. The first block's stride in each stage.
        stem_filters: int. Filters of the stride-2 stem convolution.
        projection: int or None. Dense features per time step before the GRUs.
        rnn_units: int. Units of each GRU direction. Defaults to 128.
        rnn_layers: int. Stacked bidirectional GRUs. Defaults to 1.
        unroll: bool. Unroll the GRUs (faster on a CPU at 16 steps).
        normalize: str. Per-image normalisation (`ImageNormalization`).
        name: str. The model's name.

    Returns:
        An uncompiled `keras.Model` whose output `probs` is
        `(batch, time_steps, num_classes)` softmax probabilities.

    Example:

    >>> build_crnn_resnet().output_shape
    (None, 16, 37)
    """
    pools = [None] + [s if isinstance(s, tuple) else (s, s) for s in strides]
    check_input_size(height, width, 2, pools, name)
    inputs, x = apply_input(height, width, channels, normalize)
    x = apply_conv_block(x, stem_filters, 1, None, name="stem", strides=2, use_bias=False)
    for stage, (stage_filters, count, stride) in enumerate(zip(filters, blocks, strides)):
        for block in range(count):
            x = apply_residual_block(
                x, stage_filters, stride if block == 0 else 1, name=f"stage{stage + 1}_block{block + 1}"
            )
    x = apply_sequence_head(x, rnn_units, rnn_layers, projection, unroll)
    # float32 even under mixed precision: the loss takes the log of these.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)
