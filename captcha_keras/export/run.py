"""Exporting a run to one format, checked before it replaces the earlier file."""

import os
import shutil

from captcha_keras.export.checks import calibration_images
from captcha_keras.export.checks import check_set
from captcha_keras.export.checks import compare_accuracy
from captcha_keras.export.checks import compare_texts
from captcha_keras.export.checks import predict_texts
from captcha_keras.export.checks import run_test_data
from captcha_keras.export.portable import load_for_export
from captcha_keras.export.portable import write_litert
from captcha_keras.export.portable import write_onnx
from captcha_keras.export.savedmodel import export_savedmodel
from captcha_keras.export.savedmodel import replace_folder
from captcha_keras.runs import RunConfig
from captcha_keras.inference.runtimes import export_path
from captcha_keras.inference.runtimes import open_model

EXPORT_FORMATS = ("savedmodel", "onnx", "litert")


def format_name(format, quantize=None):
    """The `runtimes.FORMATS` key of an export: `"litert"` + `"int8"` is `"litert-int8"`."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format. Expected one of {EXPORT_FORMATS}. Received: format={format!r}")
    if quantize and format != "litert":
        raise ValueError(f"--quantize applies to LiteRT exports only. Received: format={format!r}")
    return f"{format}-{quantize}" if quantize else format


def export_run(run_dir, format, quantize=None, samples=500, check_data=None, calibration_data=None,
               calibration_samples=1000, log=print):
    """Writes one export of a run, checks it on fresh captchas, and only then puts it in place.

    Args:
        run_dir: str. A run folder (with `best.keras` and `config.json`).
        format: str. `"savedmodel"`, `"onnx"` or `"litert"`.
        quantize: None, `"dynamic"` or `"int8"` (LiteRT only).
        samples: int. Captchas the check reads.
        check_data: str or None. A labelled folder to check on; default:
            the folder the run was scored on when it is here, else fresh
            synthetic captchas drawn as the run was trained.
        calibration_data: str or None. A folder of the run's training
            images for int8's activation ranges; default: the synthetic
            training stream.
        calibration_samples: int. Images int8 calibrates on.
        log: callable. Where progress lines go.

    Returns:
        A dict: `format`, `path`, `bytes`, `check` (the check's figures).

    Raises:
        ExportCheckError: the export reads differently; the earlier one stays.
    """
    from captcha_keras.inference.predictor import Predictor

    name = format_name(format, quantize)
    model = load_for_export(run_dir)
    config = RunConfig.load(run_dir)
    target = export_path(run_dir, name)
    data = check_data or run_test_data(run_dir)
    checks = check_set(config, samples, data)
    if not checks.texts:
        raise ValueError(f"Nothing to check the export on: {checks.source}.")
    log(f"checking on {checks.source}")
    temporary = f"{target}.new" if format == "savedmodel" else f"{target}.new{os.path.splitext(target)[1]}"
    _remove(temporary)
    try:
        if format == "savedmodel":
            export_savedmodel(model, temporary, config)
            figures = _check_savedmodel(temporary, config, checks)
            replace_folder(temporary, target)
        else:
            reference = predict_texts(Predictor.load(run_dir, format="savedmodel"), checks.images)
            if format == "onnx":
                write_onnx(model, temporary)
            else:
                representative = calibration_images(config, calibration_samples, calibration_data)
                write_litert(model, temporary, quantize, representative if quantize == "int8" else None)
            got = predict_texts(Predictor(config, open_model(temporary, name)), checks.images)
            if quantize:
                figures = compare_accuracy(checks.texts, reference, got, f"The {name} model")
            else:
                figures = compare_texts(reference, got, f"The {name} model", "the SavedModel")
            os.replace(temporary, target)
    finally:
        _remove(temporary)
        _remove(f"{temporary}.tmp")  # export_savedmodel's own, if it failed half-way
    size = _size(target)
    log(f"wrote {target} ({size / 1e6:.2f} MB): " + _describe(figures))
    return {"format": name, "path": target, "bytes": size, "check": dict(figures, source=checks.source)}


def _check_savedmodel(path, config, checks):
    """The reading signature (bytes in, texts out) against `Predictor` reading the same bytes."""
    import tensorflow as tf

    from captcha_keras.inference.predictor import Predictor

    loaded = tf.saved_model.load(path)
    predictor = Predictor(config, loaded.serve)
    expected = [p.text for p in predictor.predict(checks.blobs)]
    read = loaded.signatures["serving_default"]
    got = []
    for start in range(0, len(checks.blobs), 256):
        texts = read(images=tf.constant(checks.blobs[start : start + 256]))["text"].numpy()
        got += [t.decode("utf-8") for t in texts]
    return compare_texts(expected, got, "The SavedModel's reading signature", "Predictor in Python")


def _describe(figures):
    if "accuracy" in figures:
        return (f"{figures['accuracy']:.2%} right against the SavedModel's {figures['savedmodel_accuracy']:.2%} "
                f"on {figures['samples']} captchas ({figures['differences']} texts differ)")
    return f"texts equal to the reference on all {figures['samples']} captchas"


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)

