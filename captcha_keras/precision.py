"""Which numeric precision training and serving run in.

Mixed precision computes convolutions and matrix products in 16 bits while the
weights stay float32. On a GPU, `mixed_float16` (Keras adds loss scaling) is
the fast path. On a CPU with AMX bfloat16 units (Intel Xeon since Sapphire
Rapids, as this project's 2-core CPU), oneDNN runs bfloat16 convolutions on
them: `mixed_bfloat16` trained the default CTC model 1.15x and the reference
CTC model 2x as fast as float32 here (median step times; see docs/results.md), so
"auto" picks it there. Elsewhere on a CPU, bfloat16 would be emulated and slow, so "auto"
keeps float32. Whatever trains, the saved models are float32
(`float32_copy`), so they load and run on any machine; `set_serving_precision`
runs them in bfloat16 where that pays.
"""

import contextlib

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
SERVING_PRECISIONS = ("float32", "bfloat16", "auto")


def cpu_has_amx_bfloat16(cpuinfo="/proc/cpuinfo"):
    """True when the CPU advertises AMX bfloat16 units (`amx_bf16` flag).

    Reads the Linux `cpuinfo` file; False where it cannot be read (macOS,
    Windows), which keeps those machines on float32.
    """
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_bf16" in line.split()
    except OSError:
        pass
    return False


def resolve_precision(name="auto", gpus=None, amx_bfloat16=None):
    """The Keras dtype policy name for `name` on this machine.

    Args:
        name: str. One of `PRECISIONS`.
        gpus: list or None. The GPUs TensorFlow sees; None asks TensorFlow.
        amx_bfloat16: bool or None. Whether the CPU has AMX bfloat16 units;
            None reads `/proc/cpuinfo`.

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
    if gpus:
        return "mixed_float16"
    if amx_bfloat16 is None:
        amx_bfloat16 = cpu_has_amx_bfloat16()
    return "mixed_bfloat16" if amx_bfloat16 else "float32"


def set_precision(policy):
    """Makes `policy` the dtype policy of every model built from here on."""
    import keras

    keras.mixed_precision.set_global_policy(policy)


def build_with_policy(policy, build):
    """Calls `build()` with the dtype policy `policy` in force, then restores
    the previous policy, and returns what `build` returned."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        return build()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def float32_copy(model, build):
    """A float32 copy of a (possibly mixed-precision) model, for saving.

    Args:
        model: `keras.Model`.
        build: callable returning the same architecture, uncompiled; it is
            called with the float32 policy in force.
    """
    copy = build_with_policy("float32", build)
    copy.set_weights(model.get_weights())
    return copy


def resolve_serving_precision(name="float32", amx_bfloat16=None, gpus=None):
    """What `set_serving_precision(name)` runs a SavedModel in on this machine.

    Args:
        name: str. One of `SERVING_PRECISIONS`; `"auto"` is `"bfloat16"` on a
            CPU with AMX bfloat16 units and no GPU, else `"float32"`.
        amx_bfloat16: bool or None. Whether the CPU has them; None reads
            `/proc/cpuinfo`.
        gpus: list or None. The GPUs TensorFlow sees; None asks TensorFlow.
            The rewrite is oneDNN's, for the CPU: a model on a GPU keeps
            float32.

    Returns:
        `"float32"` or `"bfloat16"`.

    Example:

    >>> resolve_serving_precision("auto", amx_bfloat16=False, gpus=[])
    'float32'
    """
    if name not in SERVING_PRECISIONS:
        raise ValueError(
            f"Unknown serving precision. Expected one of {SERVING_PRECISIONS}. Received: precision={name!r}"
        )
    if name != "auto":
        return name
    # Where training's "auto" would train in bfloat16, serving in it pays too.
    training = resolve_precision("auto", gpus=gpus, amx_bfloat16=amx_bfloat16)
    return "bfloat16" if training == "mixed_bfloat16" else "float32"


_REWRITE = "auto_mixed_precision_onednn_bfloat16"


def set_serving_precision(name="float32"):
    """Runs float32 SavedModels in bfloat16 on a CPU, from the next call on.

    The shipped SavedModels are float32 so that they run anywhere. With
    `"bfloat16"`, TensorFlow's graph optimizer (oneDNN's auto mixed
    precision) rewrites convolutions and matrix products to bfloat16, as
    `mixed_bfloat16` does in training: the same file, served faster on AMX
    units. Outputs move by bfloat16 rounding, so scores measured in float32
    may shift slightly (docs/results.md gives the figures). The setting is
    TensorFlow's, for this thread: it applies to every function called after
    it, models loaded earlier and Keras `fit`/`predict` included, so set it
    once at start-up, or use `serving_precision` to undo it. A TensorFlow
    built without oneDNN skips the rewrite.

    Args:
        name: str. One of `SERVING_PRECISIONS`.

    Returns:
        The precision now asked for, `"float32"` or `"bfloat16"`.
    """
    import tensorflow as tf

    resolved = resolve_serving_precision(name)
    tf.config.optimizer.set_experimental_options({_REWRITE: resolved == "bfloat16"})
    return resolved


@contextlib.contextmanager
def serving_precision(name):
    """`set_serving_precision(name)` within a `with` block; the previous
    setting is restored on leaving it. Yields the precision asked for."""
    import tensorflow as tf

    previous = tf.config.optimizer.get_experimental_options().get(_REWRITE, False)
    try:
        yield set_serving_precision(name)
    finally:
        tf.config.optimizer.set_experimental_options({_REWRITE: previous})
