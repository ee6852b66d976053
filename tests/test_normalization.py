"""Per-image normalisation in the model (and through its exports)."""

import numpy as np
import pytest

from captcha_keras.models import build_model
from captcha_keras.models.normalization import ImageNormalization


def images(seed=0):
    rng = np.random.default_rng(seed)
    batch = rng.integers(0, 256, (4, 32, 64, 1)).astype("float32")
    batch[1] = batch[1] * 0.1 + 200  # faint strokes on light grey
    batch[2] = 255 - batch[2]  # dark background
    batch[3] = 128  # flat: no contrast at all
    return batch / 255.0


def test_standardize_gives_each_image_zero_mean_and_unit_deviation():
    out = np.asarray(ImageNormalization("standardize")(images()))
    np.testing.assert_allclose(out[:3].mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out[:3].std(axis=(1, 2, 3)), 1, atol=1e-4)
    assert np.isfinite(out).all() and np.abs(out[3]).max() < 1e-5  # a flat image stays flat, not NaN


def test_standardize_turns_a_negative_into_the_negated_image():
    batch = images()
    layer = ImageNormalization("standardize")
    np.testing.assert_allclose(np.asarray(layer(1.0 - batch))[:3], -np.asarray(layer(batch))[:3], atol=1e-4)


def test_stretch_maps_each_image_onto_zero_to_one():
    out = np.asarray(ImageNormalization("stretch")(images()))
    np.testing.assert_allclose(out[:3].min(axis=(1, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(out[:3].max(axis=(1, 2, 3)), 1, atol=1e-6)
    assert np.isfinite(out).all()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="Unknown normalization"):
        ImageNormalization("whiten")


@pytest.mark.parametrize("mode", ["standardize", "stretch"])
def test_the_layer_survives_a_reload_and_every_export(mode, tmp_path):
    import keras

    from captcha_keras.export.portable import write_litert
    from captcha_keras.export.portable import write_onnx
    from captcha_keras.export.savedmodel import export_savedmodel
    from captcha_keras.inference.runtimes import open_model

    model = build_model(
        "crnn_ctc_fast", 10, height=32, width=64, channels=1, min_length=2, max_length=3, normalize=mode
    )
    assert model.get_layer("normalize").mode == mode
    pixels = images(1) * 255.0
    expected = np.asarray(model(pixels))
    model.save(tmp_path / "best.keras")
    reloaded = keras.models.load_model(tmp_path / "best.keras", compile=False)
    np.testing.assert_allclose(np.asarray(reloaded(pixels)), expected, atol=1e-5)
    export_savedmodel(model, str(tmp_path / "savedmodel"))
    write_onnx(model, str(tmp_path / "model.onnx"))
    write_litert(model, str(tmp_path / "model.tflite"))
    for path, format in (("savedmodel", "savedmodel"), ("model.onnx", "onnx"), ("model.tflite", "litert")):
        np.testing.assert_allclose(open_model(str(tmp_path / path), format)(pixels), expected, atol=1e-4)


def test_models_built_without_normalisation_have_no_extra_layer():
    model = build_model("crnn_ctc_fast", 10, height=32, width=64, channels=1, min_length=2, max_length=3)
    names = [layer.name for layer in model.layers]
    assert "normalize" not in names and "rescale" in names
