"""ONNX and LiteRT exports of a run's pixel model.

Both formats take what the SavedModel's `pixels` signature takes (a float32
batch of 0-255 pixels) and return the same outputs; decoding stays in
Python (`decoding`, NumPy only), so that a client needs the format's
runtime and nothing of TensorFlow.

The model is traced anew on the CPU from `best.keras` with its batch norms
folded: a GRU traced for cuDNN converts to neither format.
"""

import contextlib
import os
import tempfile

from captcha_keras.export.folding import fold_batch_norms

ONNX_OPSET = 17
QUANTIZATIONS = ("dynamic", "int8")


def _pixel_function(model):
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")

    @tf.function(input_signature=[spec])
    def pixels(images):
        return model(images, training=False)

    return pixels, spec


@contextlib.contextmanager
def _on_cpu():
    import tensorflow as tf

    with tf.device("/CPU:0"):
        yield


def load_for_export(run_dir):
    """The run's `best.keras`, batch norms folded, for tracing on the CPU."""
    import keras

    from captcha_keras.runs import BEST_MODEL_FILE

    best = os.path.join(run_dir, BEST_MODEL_FILE)
    if not os.path.isfile(best):
        raise FileNotFoundError(f"{run_dir} has no {BEST_MODEL_FILE}: is it a run folder?")
    with _on_cpu():
        return fold_batch_norms(unrolled(keras.models.load_model(best, compile=False)))


def unrolled(model):
    """`model` with every recurrent layer unrolled (the same weights and outputs).

    A GRU run as a loop becomes TensorList ops, which LiteRT's builtin ops
    cannot express (the reference CTC model failed to convert so); unrolled
    over the fixed number of time steps it is plain matmuls. The defaults are
    unrolled already and come back unchanged.
    """
    import keras
    from keras import layers

    def unroll(config):
        config = dict(config)
        if "unroll" in config:
            config["unroll"] = True
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                config[key] = dict(config[key], config=unroll(config[key]["config"]))
        return config

    recurrent = [layer for layer in model.layers if isinstance(layer, (layers.RNN, layers.Bidirectional))]
    if all(unroll(layer.get_config()) == layer.get_config() for layer in recurrent):
        return model
    copy = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__.from_config(unroll(layer.get_config()))
    )
    copy.set_weights(model.get_weights())
    return copy


def write_onnx(model, path):
    """Writes `model` (float32 0-255 pixels in, the model's outputs out) as ONNX to `path`."""
    import tf2onnx

    with _on_cpu():
        pixels, spec = _pixel_function(model)
        tf2onnx.convert.from_function(pixels, input_signature=[spec], opset=ONNX_OPSET, output_path=path)
    return path


def write_litert(model, path, quantize=None, representative=None):
    """Writes `model` as a LiteRT flatbuffer of builtin ops only.

    Args:
        model: `keras.Model` (folded, float32).
        path: str. The `.tflite` file.
        quantize: None (float32), `"dynamic"` (int8 weights, float
            activations) or `"int8"` (full-integer: weights and
            activations, with float32 input and output kept at the edges).
        representative: callable returning an iterable of float32 batches
            `(1, height, width, channels)` of the run's own images; needed
            for `"int8"`, whose activation ranges it measures.
    """
    import tensorflow as tf

    from captcha_keras.export.savedmodel import export_savedmodel

    if quantize not in (None, *QUANTIZATIONS):
        raise ValueError(f"Unknown quantization. Expected one of {QUANTIZATIONS}. Received: quantize={quantize!r}")
    if quantize == "int8" and representative is None:
        raise ValueError("int8 quantization needs representative images of the run's data.")
    with tempfile.TemporaryDirectory() as folder, _on_cpu():
        saved = export_savedmodel(model, os.path.join(folder, "pixels"), fold=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["pixels"])
        # Builtin ops only: the interpreter of ai-edge-litert has no Flex delegate.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.representative_dataset = lambda: ([batch] for batch in representative())
            # Dense layers get one scale per tensor, convolutions one per output
            # channel. The unrolled GRUs give each step's matmul its own int32 bias;
            # with a scale and a 64-bit zero point for each of its channels those
            # made a third of the file (1.17 MB against 0.85 MB for ctc_default).
            # Per tensor everywhere was as small but lost 0.22 points on 6,000
            # captchas; this loses none (+0.02).
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        flatbuffer = _without_tensor_names(converter.convert())
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return path


def _without_tensor_names(flatbuffer):
    """The flatbuffer with its tensors' names emptied (a tenth of an int8 file).

    The signature finds its inputs and outputs by tensor index, so the
    interface keeps its names (`images`, `probs`, `c1`...).
    """
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.name = b""
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
