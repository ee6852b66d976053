"""Per-image normalisation in the model (and through its exports), and the folder runs' stopping rule."""

import numpy as np
import pytest

from captcha_keras.training.callbacks import ConvergenceStop
from captcha_keras.training.callbacks import stopping_patience
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

    model = build_model("crnn_ctc_fast", 10, 32, 64, 1, 2, 3, normalize=mode)
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
    names = [layer.name for layer in build_model("crnn_ctc_fast", 10, 32, 64, 1, 2, 3).layers]
    assert "normalize" not in names and "rescale" in names


@pytest.mark.parametrize("samples, patience", [(5000, 3), (2000, 3), (1000, 5), (400, 8), (40, 14)])
def test_patience_grows_as_the_validation_set_shrinks(samples, patience):
    assert stopping_patience(samples) == patience


class Model:
    stop_training = False


def stop_epoch(history, samples=400, patience=3, start_from_epoch=0):
    """The 1-based epoch at which ConvergenceStop ends a phase, or None."""
    rule = ConvergenceStop(samples, patience, start_from_epoch=start_from_epoch, verbose=0)
    rule.set_model(Model())
    for epoch, (accuracy, loss) in enumerate(history):
        rule.on_epoch_end(epoch, {"val_seq_acc": accuracy, "val_loss": loss})
        if rule.model.stop_training:
            return epoch + 1
    return None


@pytest.mark.parametrize("history, expected", [
    # Perfect twice in a row ends the phase, whatever the loss still does.
    ([(0.9, 1.0), (0.99, 0.5), (1.0, 0.2), (1.0, 0.1), (1.0, 0.05)], 4),
    # One perfect epoch between noisy ones does not.
    ([(0.9, 1.0), (1.0, 0.5), (0.995, 0.45), (1.0, 0.44), (0.9975, 0.44), (0.995, 0.44)], None),
    # A plateau (within noise, loss flat) ends after the patience.
    ([(0.95, 0.3)] + [(0.95 + 0.005 * (i % 2), 0.3) for i in range(6)], 4),
    # Accuracy still climbing beyond the noise: no stop, although the loss is flat.
    ([(0.80 + 0.03 * i, 0.3) for i in range(7)], None),
    # A model that reads nothing yet (all blanks) is never stopped for it.
    ([(0.0, 5.0)] * 10, None),
])
def test_convergence_stop_decisions(history, expected):
    assert stop_epoch(history) == expected


def test_a_perfect_read_of_a_small_validation_set_is_not_enough_to_stop():
    perfect = [(1.0, 0.1)] * 6
    assert stop_epoch(perfect, samples=40, patience=stopping_patience(40)) is None
    assert stop_epoch(perfect, samples=300) == 2


def test_convergence_stop_waits_for_start_from_epoch():
    perfect = [(1.0, 0.1)] * 6
    assert stop_epoch(perfect) == 2
    assert stop_epoch(perfect, start_from_epoch=5) == 5
