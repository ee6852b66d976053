"""Model registry: every architecture by name, with its family and settings.

vgg_multihead.py   VGG-style CNN with one softmax head per character, and the heads' names
crnn_ctc.py        conv stack + bidirectional GRU, trained with CTC
crnn_resnet.py     residual conv stack + bidirectional GRU, trained with CTC
svtr.py            SVTR, a small vision transformer for text, trained with CTC
blocks.py          building blocks shared by the builders
normalization.py   per-image normalisation inside the model, so that every export carries it
losses.py          the CTC loss for variable-length labels
"""

from captcha_keras.models.crnn_ctc import build_crnn_ctc
from captcha_keras.models.crnn_resnet import build_crnn_resnet
from captcha_keras.models.svtr import build_svtr
from captcha_keras.models.vgg_multihead import build_vgg_multihead

# Architecture presets in one place. `family` says which targets, loss and
# decoding a model uses. The reference entries are ypwhs/captcha_break as
# published; the `_fast` entries are the CPU-friendly defaults. `channels` is
# the input an architecture is trained on unless told otherwise: the
# reference reads RGB, the defaults grayscale (colour carries no label).
# The fast conv stack: a strided stem, one convolution a block, and 16
# columns left at 128 pixels wide for a recurrent head to read.
FAST_CONV = {
    "filters": (16, 32, 64, 128, 128),
    "pools": (None, (2, 2), (2, 2), (2, 1), (2, 1)),
    "convs_per_block": 1,
    "stem_stride": 2,
    "use_bias": False,
}
FAST_CTC = {
    **FAST_CONV,
    "projection": 128,
    "rnn_units": 64,
    "rnn_layers": 1,
    "unroll": True,
}
ARCHITECTURES = {
    "vgg_multihead": {
        "family": "multihead",
        "builder": build_vgg_multihead,
        "channels": 3,
        "kwargs": {},
    },
    "crnn_ctc": {
        "family": "ctc",
        "builder": build_crnn_ctc,
        "channels": 3,
        "kwargs": {},
    },
    "vgg_multihead_fast": {
        "family": "multihead",
        "builder": build_vgg_multihead,
        "channels": 1,
        "kwargs": {
            "filters": (16, 32, 64, 128, 128),
            "convs_per_block": 1,
            "stem_stride": 1,
            "dropout": 0.2,
            "use_bias": False,
        },
    },
    # The conv stack of crnn_ctc_fast (strided stem, no pool in block 1): no
    # full-resolution layer, which cost vgg_multihead_fast half its speed.
    "vgg_multihead_fast_s2": {
        "family": "multihead",
        "builder": build_vgg_multihead,
        "channels": 1,
        "kwargs": {
            "filters": (16, 32, 64, 128, 256),
            "pools": (None, (2, 2), (2, 2), (2, 2), (2, 2)),
            "convs_per_block": 1,
            "stem_stride": 2,
            "dropout": 0.2,
            "use_bias": False,
        },
    },
    # The CTC default's conv stack (16 columns) and a small BiGRU before the
    # character heads: each head reads positions in context instead of
    # learning every place its character can sit.
    "vgg_multihead_fast_gru": {
        "family": "multihead",
        "builder": build_vgg_multihead,
        "channels": 1,
        "kwargs": dict(FAST_CONV, dropout=0.2, rnn_units=64, unroll=True),
    },
    "crnn_ctc_fast": {
        "family": "ctc",
        "builder": build_crnn_ctc,
        "channels": 1,
        "kwargs": FAST_CTC,
    },
    # The fast conv stack with a wider recurrent head (the default for CTC):
    # the projection and GRUs cost little next to the convolutions (458 vs 475
    # training img/s in one run).
    "crnn_ctc_fast_wide": {
        "family": "ctc",
        "builder": build_crnn_ctc,
        "channels": 1,
        "kwargs": dict(FAST_CTC, projection=256, rnn_units=128),
    },
    # A ResNet CRNN sized for a CPU (the design's tutorial trains a ResNet34
    # one): basic blocks with shortcuts, the default's recurrent head.
    "crnn_resnet": {
        "family": "ctc",
        "builder": build_crnn_resnet,
        "channels": 1,
        "kwargs": {},
    },
    # SVTR-Tiny as published (Du et al. 2022: dims 64/128/256, depths 3/6/3,
    # 6 local then 6 global mixing blocks), a token per 4x4 pixels.
    "svtr_tiny": {
        "family": "ctc",
        "builder": build_svtr,
        "channels": 1,
        "kwargs": {},
    },
    # SVTR at a CPU size: a token per 16x4 pixels (two more embedding
    # convolutions halve the height: 128 tokens where Tiny has 512), 6
    # blocks (2 local, 4 global).
    "svtr_cpu": {
        "family": "ctc",
        "builder": build_svtr,
        "channels": 1,
        "kwargs": {
            "dims": (64, 128, 192),
            "depths": (2, 2, 2),
            "heads": (2, 4, 6),
            "local_blocks": 2,
            "embed_strides": (2, 2, (2, 1), (2, 1)),
        },
    },
}

# What `--arch reference` and `--arch default` mean for each family.
REFERENCE = {"ctc": "crnn_ctc", "multihead": "vgg_multihead"}
DEFAULT = {"ctc": "crnn_ctc_fast_wide", "multihead": "vgg_multihead_fast_gru"}


def resolve_architecture(name, family=None):
    """Returns the registry name of `name`, accepting `reference`/`default` aliases.

    Raises:
        ValueError: for an unknown name (listing the valid ones), or an
            architecture of another family than `family`.
    """
    if name in ("reference", "default"):
        if family is None:
            raise ValueError(f"'{name}' needs a model family (ctc or multihead).")
        name = (REFERENCE if name == "reference" else DEFAULT)[family]
    if name not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture. Expected one of {sorted(ARCHITECTURES)} "
            f"(or 'reference', 'default'). Received: arch={name!r}"
        )
    if family is not None and ARCHITECTURES[name]["family"] != family:
        raise ValueError(
            f"Architecture {name!r} is a {ARCHITECTURES[name]['family']} model; this needs a {family} model."
        )
    return name


def num_outputs(family, num_characters, min_length, max_length):
    """Classes of the output layer: CTC adds a blank; multi-head a "no character"
    class only when labels vary in length."""
    if family == "ctc" or min_length != max_length:
        return num_characters + 1
    return num_characters


def build_model(arch, num_characters, *, height=64, width=128, channels=3, min_length=4, max_length=4, **overrides):
    """Builds an architecture of the registry for a charset and image size.

    Args:
        arch: str. A name in `ARCHITECTURES`.
        num_characters: int. Size of the charset.
        height: int. Image height. Defaults to 64.
        width: int. Image width. Defaults to 128.
        channels: int. 1 or 3. Defaults to 3.
        min_length: int. Shortest label. Defaults to 4.
        max_length: int. Longest label. Defaults to 4.
        **overrides: builder arguments that replace the preset's.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> build_model("crnn_ctc", 36).count_params()
    3157317
    """
    arch = resolve_architecture(arch)
    spec = ARCHITECTURES[arch]
    kwargs = dict(spec["kwargs"], **overrides)
    kwargs.update(
        height=height,
        width=width,
        channels=channels,
        num_classes=num_outputs(spec["family"], num_characters, min_length, max_length),
        name=arch,
    )
    if spec["family"] == "multihead":
        kwargs["num_heads"] = max_length
    model = spec["builder"](**kwargs)
    if spec["family"] == "ctc" and model.output_shape[1] < max_length:
        raise ValueError(
            f"{arch} at width={width} has {model.output_shape[1]} time steps, fewer than "
            f"the longest label ({max_length}). Use a wider image."
        )
    return model


def family_of(arch):
    """The family (`ctc` or `multihead`) of a registry name."""
    return ARCHITECTURES[resolve_architecture(arch)]["family"]


def default_channels(arch):
    """The input channels (1 or 3) an architecture is trained on by default."""
    return ARCHITECTURES[resolve_architecture(arch)]["channels"]
