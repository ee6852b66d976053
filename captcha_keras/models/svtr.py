"""SVTR: a small vision transformer for text, trained with CTC (Du et al. 2022).

The design: an overlapping patch embedding (strided 3x3 convolutions), then
stages of mixing blocks (attention with a local window, which sees the
strokes of one character, or global, which sees the whole text), a merging
convolution between stages that halves the height and widens the features,
and a combining step that pools the height away and leaves one time step
per column for the CTC head.
"""

import keras
import numpy as np
from keras import layers
from keras import ops

from captcha_keras.models.blocks import apply_input
from captcha_keras.models.blocks import check_input_size

# Lowers the scores outside a token's window when finding the window's maximum: far enough for any
# score a trained block gives (a few units), near enough to keep int8 steps fine.
_OUTSIDE = 30.0


def window_mask(grid, window):
    """Which tokens each token of a `grid` attends to in local mixing.

    Args:
        grid: (int, int). Rows and columns of tokens.
        window: (int, int). The neighbourhood each token attends to (odd
            sizes, centred on it).

    Returns:
        A float32 `(tokens, tokens)` array of 1 (may attend) and 0.

    Example:

    >>> window_mask((1, 4), (1, 3))[0].tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    rows, columns = grid
    row, column = np.divmod(np.arange(rows * columns), columns)
    near = (np.abs(row[:, None] - row[None]) <= window[0] // 2) & (
        np.abs(column[:, None] - column[None]) <= window[1] // 2
    )
    return near.astype("float32")


@keras.saving.register_keras_serializable(package="captcha_keras")
def gelu_tanh(x):
    """GELU in its tanh approximation (Hendrycks and Gimpel 2016).

    The exact GELU becomes an Erfc op in TensorFlow's graph, which tf2onnx
    cannot convert; this one is plain tanh, multiplies and adds everywhere.
    """
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="captcha_keras")
class MixingAttention(layers.Layer):
    """Multi-head self-attention over a grid of tokens, local or global.

    Written out with matrix products (not `layers.MultiHeadAttention`'s
    einsums) so that every export (ONNX, LiteRT float and int8) converts
    it to plain BatchMatMul, Softmax and Dense ops.

    Args:
        num_heads: int. Attention heads; the feature size must divide by it.
        grid: (int, int). Rows and columns of the tokens, in order.
        window: (int, int) or None. Local mixing's neighbourhood; None for
            global mixing.
    """

    def __init__(self, num_heads, grid, window=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.grid = tuple(grid)
        self.window = tuple(window) if window else None

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"The features must divide by the heads. Received: features={dim}, num_heads={self.num_heads}"
            )
        self.qkv = layers.Dense(3 * dim, name="qkv")
        self.qkv.build(input_shape)
        self.proj = layers.Dense(dim, name="proj")
        self.proj.build(input_shape)
        self.mask = window_mask(self.grid, self.window) if self.window else None

    def call(self, x):
        tokens, dim = x.shape[1], x.shape[2]
        head_dim = dim // self.num_heads
        qkv = ops.reshape(self.qkv(x), (-1, tokens, 3, self.num_heads, head_dim))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, batch, heads, tokens, head_dim)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = ops.matmul(q * head_dim**-0.5, ops.transpose(k, (0, 1, 3, 2)))
        if self.window is None:
            attention = ops.softmax(scores, axis=-1)
        else:
            attention = self._window_softmax(scores)
        out = ops.transpose(ops.matmul(attention, v), (0, 2, 1, 3))
        return self.proj(ops.reshape(out, (-1, tokens, dim)))

    def _window_softmax(self, scores):
        """The softmax of each token's scores over its window, with no large constant in any tensor.

        The usual additive mask (-1e4 outside the window) gives the scores a
        range that int8 quantization cannot hold (a step of about 40 for
        scores of a few units). Here the window's maximum is found with a
        moderate offset, the exponentials of the scores below it are
        clamped to at most 1 and the mask multiplies them: every tensor
        stays within a few units. In float it is the exact windowed softmax.
        """
        mask = ops.cast(self.mask, scores.dtype)
        peak = ops.max(scores + (mask - 1.0) * _OUTSIDE, axis=-1, keepdims=True)
        weights = ops.exp(ops.minimum(scores - ops.stop_gradient(peak), 0.0)) * mask
        return weights / ops.sum(weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "grid": self.grid, "window": self.window}


@keras.saving.register_keras_serializable(package="captcha_keras")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding to each position of a `(batch, tokens, features)` sequence."""

    def build(self, input_shape):
        self.embedding = self.add_weight(
            shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="embedding",
        )

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def apply_patch_embedding(x, dim, strides, name="embed"):
    """Overlapping patches: strided 3x3 [Conv, BatchNorm, GELU] layers, the last with `dim` filters."""
    for i, stride in enumerate(strides):
        filters = dim if i == len(strides) - 1 else dim // 2
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i + 1}")(x)
        x = layers.Activation(gelu_tanh, name=f"{name}_gelu{i + 1}")(x)
    return x


def apply_mixing_block(x, num_heads, grid, window, mlp_ratio, name):
    """One pre-norm transformer block: x + mixing(LN(x)), then x + MLP(LN(x))."""
    dim = x.shape[-1]
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
    y = MixingAttention(num_heads, grid, window, name=f"{name}_mixing")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
    y = layers.Dense(dim * mlp_ratio, activation=gelu_tanh, name=f"{name}_mlp1")(y)
    y = layers.Dense(dim, name=f"{name}_mlp2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


def build_svtr(
    height=64,
    width=128,
    channels=1,
    num_classes=37,
    dims=(64, 128, 256),
    depths=(3, 6, 3),
    heads=(2, 4, 8),
    local_blocks=6,
    window=(7, 11),
    embed_strides=(2, 2),
    mlp_ratio=4,
    out_dim=192,
    dropout=0.1,
    normalize="none",
    name="svtr",
):
    """Builds an SVTR recognizer; the defaults are the paper's SVTR-Tiny.

    Args:
        height: int. Image height. Defaults to 64.
        width: int. Image width. Defaults to 128.
        channels: int. 1 (grayscale) or 3. Defaults to 1.
        num_classes: int. The charset plus the CTC blank (the last index).
        dims: tuple of int. Features of each stage.
        depths: tuple of int. Mixing blocks of each stage.
        heads: tuple of int. Attention heads of each stage.
        local_blocks: int. How many of the first blocks mix locally; the
            rest mix globally (the paper's Tiny: 6 local, then 6 global).
        window: (int, int). Local mixing's neighbourhood in tokens.
        embed_strides: tuple. Strides of the patch embedding's convolutions:
            `(2, 2)` (the paper) leaves a token per 4x4 pixels.
        mlp_ratio: int. Width of each block's MLP over its features.
        out_dim: int. Features of each time step before the classifier.
        dropout: float. Dropout before the classifier.
        normalize: str. Per-image normalisation (`ImageNormalization`).
        name: str. The model's name.

    Returns:
        An uncompiled `keras.Model` whose output `probs` is
        `(batch, time_steps, num_classes)`: one time step per token column.

    Example:

    >>> build_svtr().output_shape
    (None, 32, 37)
    """
    # The embedding's strides and the merges' height halvings, as check_input_size counts pools.
    pools = [(s, s) if isinstance(s, int) else s for s in embed_strides] + [(2, 1)] * (len(dims) - 1)
    check_input_size(height, width, 1, pools, name)
    inputs, x = apply_input(height, width, channels, normalize)
    x = apply_patch_embedding(x, dims[0], embed_strides)
    rows, columns = x.shape[1], x.shape[2]
    x = layers.Reshape((rows * columns, dims[0]), name="tokens")(x)
    x = PositionEmbedding(name="position")(x)
    index = 0
    for stage, (dim, depth, stage_heads) in enumerate(zip(dims, depths, heads)):
        if stage:  # merging: halve the height, widen the features
            x = layers.Reshape((rows, columns, x.shape[-1]), name=f"merge{stage}_grid")(x)
            x = layers.Conv2D(dim, 3, strides=(2, 1), padding="same", name=f"merge{stage}_conv")(x)
            rows = x.shape[1]
            x = layers.Reshape((rows * columns, dim), name=f"merge{stage}_tokens")(x)
            x = layers.LayerNormalization(epsilon=1e-6, name=f"merge{stage}_norm")(x)
        for block in range(depth):
            local = window if index < local_blocks else None
            x = apply_mixing_block(
                x, stage_heads, (rows, columns), local, mlp_ratio, f"stage{stage + 1}_block{block + 1}"
            )
            index += 1
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    # Combining: the mean over the remaining rows leaves one time step per column.
    x = layers.Reshape((rows, columns, dims[-1]), name="grid")(x)
    x = layers.AveragePooling2D((rows, 1), name="combine_pool")(x)
    x = layers.Reshape((columns, dims[-1]), name="columns")(x)
    x = layers.Dense(out_dim, activation="hard_swish", name="combine")(x)
    x = layers.Dropout(dropout, name="combine_dropout")(x)
    # float32 even under mixed precision: the loss takes the log of these.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)
