"""Exporting trained models for serving without this package's training code."""

import os
import shutil

from captcha_keras.export.folding import fold_batch_norms
from captcha_keras.images import DEFAULT_MAX_PIXELS


def export_savedmodel(model, path, config=None, max_pixels=DEFAULT_MAX_PIXELS, fold=True):
    """Exports a TF SavedModel that reads captchas with TensorFlow alone.

    Signatures:
    - `serving_default` (with `config`): encoded images in (a `(n,)`
      tf.string batch of PNG, JPEG, GIF or BMP bytes), `{"text": (n,)
      tf.string, "confidence": (n,) float32}` out, every step in the graph
      (`export.graph`). This is what TensorFlow Serving calls.
    - `pixels`: a float32 batch `(n, height, width, channels)` of 0-255
      pixels in, what the Keras model returns out: a tensor (CTC) or a
      dict of tensors by output name (multi-head). Without `config` it is
      also `serving_default`.
    The `serve` function (the pixel one) is what `Reader` calls.

    Written with `tf.saved_model.save` rather than `model.export`, which on
    Keras 3 stores every weight twice (keras-team/keras#23553): twice the
    disk and twice the memory in every process that loads the model. Batch
    normalizations are folded into their convolutions first
    (`fold_batch_norms`), which serves faster on a CPU.

    Args:
        model: `keras.Model`. A trained model (its first layer rescales).
        path: str. Output folder; replaced if it exists, only once the new
            one is written.
        config: `RunConfig` or None. The run's input size, charset and
            lengths, for the reading signature.
        max_pixels: int. The reading signature refuses larger images
            before decoding them.
        fold: bool. Fold batch norms first (False: `model` is folded already).

    Returns:
        `path`.
    """
    import tensorflow as tf

    from captcha_keras.export.graph import reading_function

    if fold:
        model = fold_batch_norms(model)
    module = tf.Module()
    # The very `tf.Variable`s the traced function captures: tracking these,
    # not the Keras wrappers around them, is what lets the checkpoint write
    # each weight once.
    module.model_variables = [variable.value for variable in model.variables]
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")

    @tf.function(input_signature=[spec])
    def serve(images):
        return model(images, training=False)

    module.serve = serve
    signatures = {"pixels": serve, "serving_default": serve}
    if config is not None:
        module.read = reading_function(model, config, max_pixels)
        signatures["serving_default"] = module.read
    # Written beside the target and swapped in: a failed export keeps the old one.
    temporary = f"{path.rstrip(os.sep)}.tmp"
    if os.path.exists(temporary):
        shutil.rmtree(temporary)
    tf.saved_model.save(module, temporary, signatures=signatures)
    replace_folder(temporary, path)
    return path


def replace_folder(new, path):
    """Puts folder `new` at `path`; the old folder is moved aside first and removed only once `new` is in place."""
    old = f"{path.rstrip(os.sep)}.old"
    if os.path.isdir(old):
        shutil.rmtree(old)
    if os.path.isdir(path):
        os.replace(path, old)
    try:
        os.replace(new, path)
    except OSError:
        if os.path.isdir(old):
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def reexport_run(run_dir):
    """Writes a run's `savedmodel/` anew from its `best.keras`.

    For runs exported before the batch norms were folded, or whose
    SavedModel was lost; the old SavedModel stays until the new one is
    written.

    Returns:
        The SavedModel's path.

    Raises:
        FileNotFoundError: when the run has no `best.keras`.
    """
    import keras

    from captcha_keras.runs import BEST_MODEL_FILE
    from captcha_keras.runs import SAVEDMODEL_DIR
    from captcha_keras.runs import RunConfig

    best = os.path.join(run_dir, BEST_MODEL_FILE)
    if not os.path.isfile(best):
        raise FileNotFoundError(f"{run_dir} has no {BEST_MODEL_FILE}: is it a run folder?")
    model = keras.models.load_model(best, compile=False)
    return export_savedmodel(model, os.path.join(run_dir, SAVEDMODEL_DIR), RunConfig.load(run_dir))
