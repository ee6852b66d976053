"""Building blocks shared by the model builders."""

import math

from keras import layers


def apply_conv_block(x, filters, convs, pool, name, strides=1, use_bias=True):
    """Applies `convs` x [Conv 3x3, BatchNorm, ReLU], then a max-pool.

    Args:
        x: tensor. The block's input.
        filters: int. Filters of every convolution.
        convs: int. How many convolutions.
        pool: tuple of int, or None. Max-pool size; None for no pooling.
        name: str. Prefix of the block's layer names.
        strides: int. Stride of the first convolution. Defaults to 1.
        use_bias: bool. The reference design keeps a bias before the
            BatchNorm (it is redundant, but it is in the parameter count).
    """
    for i in range(convs):
        x = layers.Conv2D(
            filters,
            3,
            strides=strides if i == 0 else 1,
            padding="same",
            use_bias=use_bias,
            kernel_initializer="he_uniform",
            name=f"{name}_conv{i + 1}",
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i + 1}")(x)
    if pool:
        x = layers.MaxPooling2D(pool, name=f"{name}_pool")(x)
    return x


def apply_conv_stack(x, filters, pools, convs_per_block, stem_stride=1, use_bias=True):
    """Applies one `apply_conv_block` per entry of `filters`, named `block1`...

    `stem_stride` strides the very first convolution: a cheap 2x downsample
    of the full-resolution input.
    """
    for i, (block_filters, pool) in enumerate(zip(filters, pools)):
        x = apply_conv_block(
            x,
            block_filters,
            convs_per_block,
            pool,
            name=f"block{i + 1}",
            strides=stem_stride if i == 0 else 1,
            use_bias=use_bias,
        )
    return x


def apply_sequence_head(x, rnn_units, rnn_layers=1, projection=None, unroll=False):
    """Reads a conv feature map left to right: columns as time steps, BiGRUs.

    Returns `(batch, width, 2 * rnn_units)`. The recurrent layers run in
    float32 even under mixed precision: an unrolled GRU carries its state
    through every step, and bfloat16's 8-bit mantissa would round it at each
    one. They cost little next to the convolutions.

    Args:
        x: tensor. A `(batch, height, width, channels)` feature map.
        rnn_units: int. Units of each GRU direction.
        rnn_layers: int. Stacked bidirectional GRUs. Defaults to 1.
        projection: int or None. A Dense layer that shrinks each time step's
            features before the GRUs. Defaults to None.
        unroll: bool. Unroll the GRUs; on a CPU this trains about twice as
            fast at 16 steps. Defaults to False.
    """
    # Width becomes the time axis; each step sees a full-height column.
    x = layers.Permute((2, 1, 3), name="to_time_major_width")(x)
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name="columns")(x)
    if projection:
        x = layers.Dense(projection, activation="relu", dtype="float32", name="projection")(x)
    for i in range(rnn_layers):
        x = layers.Bidirectional(
            layers.GRU(rnn_units, return_sequences=True, unroll=unroll, dtype="float32"),
            dtype="float32",
            name=f"bigru{i + 1}",
        )(x)
    return x


def apply_input(height, width, channels, normalize="none"):
    """Returns `(input, rescaled)`: models read 0-255 pixels and scale inside.

    Scaling in the model keeps every client (SavedModel, HTTP, ONNX) free of
    preprocessing conventions: they send pixel values as they are. With
    `normalize` (`"standardize"`, `"stretch"`), each image is normalised by
    its own statistics after the scaling (`ImageNormalization`); `"none"`
    adds no layer, so that models built before it load unchanged.
    """
    from keras import Input

    from captcha_keras.models.normalization import ImageNormalization

    inputs = Input((height, width, channels), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if normalize != "none":
        x = ImageNormalization(normalize, name="normalize")(x)
    return inputs, x


def check_input_size(height, width, stem_stride, pools, name):
    """Raises a ValueError when the conv stack would shrink the image to nothing."""
    factor_h = stem_stride * math.prod(p[0] if p else 1 for p in pools)
    factor_w = stem_stride * math.prod(p[1] if p else 1 for p in pools)
    if height < factor_h or width < factor_w:
        raise ValueError(
            f"The image is too small for the {name} conv stack: it needs at least "
            f"height={factor_h} and width={factor_w}. Received: height={height}, width={width}"
        )
    return height // factor_h, width // factor_w


def apply_residual_block(x, filters, strides, name, use_bias=False):
    """Applies a ResNet basic block: [Conv 3x3, BatchNorm, ReLU, Conv 3x3, BatchNorm] + shortcut, ReLU.

    The shortcut is the input itself, or a strided 1x1 convolution and
    BatchNorm where the block changes the shape (He et al. 2016, option B).

    Args:
        x: tensor. The block's input.
        filters: int. Filters of both convolutions.
        strides: int or tuple of int. Stride of the first convolution;
            `(2, 1)` halves only the height, keeping time steps.
        name: str. Prefix of the block's layer names.
        use_bias: bool. Conv biases (redundant before a BatchNorm). Defaults
            to False.
    """
    conv = {"padding": "same", "use_bias": use_bias, "kernel_initializer": "he_uniform"}
    shortcut = x
    if strides not in (1, (1, 1)) or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, name=f"{name}_shortcut", **conv)(x)
        shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
    x = layers.Conv2D(filters, 3, strides=strides, name=f"{name}_conv1", **conv)(x)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.Activation("relu", name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, name=f"{name}_conv2", **conv)(x)
    # Zero-initialised last scale: each block starts as the identity (Goyal et al. 2017).
    x = layers.BatchNormalization(gamma_initializer="zeros", name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(x)
