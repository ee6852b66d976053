"""Exporting a run to one format, checked before it replaces the earlier file."""

import io
import os
import shutil

from captcha_keras.export.checks import ExportCheckError
from captcha_keras.export.checks import calibration_images
from captcha_keras.export.checks import check_set
from captcha_keras.export.checks import compare_accuracy
from captcha_keras.export.checks import compare_texts
from captcha_keras.export.checks import describe_sensitivity
from captcha_keras.export.checks import predict_texts
from captcha_keras.export.checks import run_test_data
from captcha_keras.export.portable import load_for_export
from captcha_keras.export.portable import write_litert
from captcha_keras.export.portable import write_onnx
from captcha_keras.export.savedmodel import export_savedmodel
from captcha_keras.export.savedmodel import replace_folder
from captcha_keras.inference.runtimes import open_model
from captcha_keras.runs import RunConfig
from captcha_keras.runs import export_path

EXPORT_FORMATS = ("savedmodel", "onnx", "litert")
# How far the reading signature's confidences may be from Reader's.
CONFIDENCE_TOLERANCE = 1e-3


def format_name(format, quantize=None):
    """The `runs.FORMATS` key of an export: `"litert"` + `"int8"` is `"litert-int8"`."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format. Expected one of {EXPORT_FORMATS}. Received: format={format!r}")
    if quantize and format != "litert":
        raise ValueError(f"--quantize applies to LiteRT exports only. Received: format={format!r}")
    return f"{format}-{quantize}" if quantize else format


def export_run(
    run_dir,
    format,
    *,
    quantize=None,
    samples=500,
    check_data=None,
    calibration_data=None,
    calibration_samples=1000,
    log=print,
):
    """Writes one export of a run, checks it on fresh captchas, and only then puts it in place.

    Args:
        run_dir: str. A run folder (with `best.keras` and `config.json`).
        format: str. `"savedmodel"`, `"onnx"` or `"litert"`.
        quantize: None, `"dynamic"` or `"int8"` (LiteRT only).
        samples: int. Captchas the check reads. A quantized export is
            refused only for a drop these can detect (500: 2.6 points or
            more; see `checks.detectable_drop`).
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
    from captcha_keras.inference.reader import Reader

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
            reference = predict_texts(Reader(run_dir, format="savedmodel"), checks.images)
            if format == "onnx":
                write_onnx(model, temporary)
            else:
                representative = calibration_images(config, calibration_samples, calibration_data)
                write_litert(model, temporary, quantize, representative if quantize == "int8" else None)
            got = predict_texts(Reader.from_runtime(config, open_model(temporary, name), format=name), checks.images)
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
    """The reading signature (bytes in, texts and confidences out) against `Reader` reading the same bytes."""
    import tensorflow as tf

    from captcha_keras.inference.reader import Reader

    loaded = tf.saved_model.load(path)
    expected = Reader.from_runtime(config, loaded.serve, formats=None).read_many(checks.blobs, 256)
    read = loaded.signatures["serving_default"]
    got, confidences = [], []
    for start in range(0, len(checks.blobs), 256):
        out = read(images=tf.constant(checks.blobs[start : start + 256]))
        got += [t.decode("utf-8") for t in out["text"].numpy()]
        confidences += out["confidence"].numpy().tolist()
    figures = compare_texts([r.text for r in expected], got, "The SavedModel's reading signature", "Reader in Python")
    # The same confidence everywhere: the graph's CTC forward pass runs in
    # float32, Reader's in float64, so they agree to rounding, not exactly.
    # Only images the model reads at their own size are held to it: a resize
    # in the graph may differ from Pillow's by a level, which moves an unsure
    # reading's confidence further while its text stays (checked above).
    differences = [abs(c - r.confidence) for c, r in zip(confidences, expected)]
    same_size = [d for d, blob in zip(differences, checks.blobs) if _size_of(blob) == (config.width, config.height)]
    worst = max(same_size, default=0.0)
    if worst > CONFIDENCE_TOLERANCE:
        raise ExportCheckError(
            f"The SavedModel's reading signature gives confidences up to {worst:.2g} away from Reader's "
            f"(more than {CONFIDENCE_TOLERANCE}) on images that need no resize. Nothing was replaced."
        )
    return dict(figures, confidence_difference=worst, confidence_difference_resized=max(differences, default=0.0))


def _size_of(blob):
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as image:
        return image.size


def _describe(figures):
    if "accuracy" in figures:
        # What the sample could have detected, so that a pass on few captchas does not read as a tight one.
        return (
            f"{figures['accuracy']:.2%} right against the SavedModel's {figures['savedmodel_accuracy']:.2%} "
            f"on {figures['samples']:,} captchas ({figures['lost']} lost, {figures['gained']} gained, "
            f"p = {figures['p_value']:.2g} for a drop above {figures['tolerance'] * 100:.1f} points); "
            + describe_sensitivity(figures)
        )
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
