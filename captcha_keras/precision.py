"""Which numeric precision training runs in.

Mixed precision computes convolutions and matrix products in 16 bits while the
weights stay float32. On a GPU, `mixed_float16` (Keras adds loss scaling) is
the fast path. On a CPU, "auto" keeps float32: on this project's 2-core CPU
(which has AMX bfloat16 units), `mixed_bfloat16` trained the default CTC model
at 0.6x to 1.1x the float32 speed depending on the run, never reliably faster,
so it is there to choose (`--precision mixed_bfloat16`), not the default.
Whatever trains, the saved models are float32 (`float32_copy`), so they load
and run on any machine.
"""

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
def resolve_precision(name="auto", gpus=None):
    """The Keras dtype policy name for `name` on this machine.

    Args:
        name: str. One of `PRECISIONS`.
        gpus: list or None. The GPUs TensorFlow sees; None asks TensorFlow.

    Returns:
        `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.
    """
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision. Expected one of {PRECISIONS}. Received: precision={name!r}")
    if name != "auto":
        return name
    if gpus is None:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    return "mixed_float16" if gpus else "float32"


def set_precision(policy):
    """Makes `policy` the dtype policy of every model built from here on."""
    import keras

    keras.mixed_precision.set_global_policy(policy)


def float32_copy(model, build):
    """A float32 copy of a (possibly mixed-precision) model, for saving.

    Args:
        model: `keras.Model`.
        build: callable returning the same architecture, uncompiled; it is
            called with the float32 policy in force.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = build()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return copy
