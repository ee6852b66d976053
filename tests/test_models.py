import keras
import numpy as np
import pytest

from captcha_keras.charset import Charset
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.models import ARCHITECTURES
from captcha_keras.models import build_model
from captcha_keras.models import resolve_architecture
from captcha_keras.training import compile_model


@pytest.mark.parametrize(
    "arch, parameters, output",
    [("vgg_multihead", 2_653_360, [(None, 36)] * 4), ("crnn_ctc", 3_157_317, (None, 16, 37))],
)
def test_reference_models_match_the_reference(arch, parameters, output):
    model = build_model(arch, 36, height=64, width=128, channels=3)
    assert model.count_params() == parameters
    assert model.output_shape == output


def test_every_layer_is_named_after_its_role():
    model = build_model("crnn_ctc", 36)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["image", "rescale", "block1_conv1"]
    assert {"block5_pool", "columns", "bigru1", "bigru2", "probs"} <= set(names)
    assert build_model("vgg_multihead", 36).output_names == ["c1", "c2", "c3", "c4"]
    # The recurrent multi-head model reads the 16 columns before its heads.
    model = build_model("vgg_multihead_fast_gru", 36, channels=1)
    assert model.get_layer("bigru1").output.shape == (None, 16, 128)
    assert model.get_layer("flatten").input.shape == (None, 16, 128)
    assert model.output_names == ["c1", "c2", "c3", "c4"]


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_too_small_images_name_the_minimum(arch):
    with pytest.raises(ValueError, match="needs at least height=32"):
        build_model(arch, 10, height=16, width=48)


def test_registry_rejects_unknown_names_and_wrong_families():
    with pytest.raises(ValueError, match="crnn_ctc"):
        resolve_architecture("resnet")
    with pytest.raises(ValueError, match="multihead model"):
        resolve_architecture("crnn_ctc", family="multihead")
    assert resolve_architecture("reference", "ctc") == "crnn_ctc"


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_tiny_models_predict_fit_and_round_trip(arch, tmp_path):
    """Shape, predict, one fit step and a save/load round trip, for every architecture."""
    charset = Charset("digits")
    family = ARCHITECTURES[arch]["family"]
    model = build_model(
        arch, len(charset), height=32, width=64, channels=1, min_length=2, max_length=3, filters=(4, 4, 8, 8, 8)
    )
    compile_model(model, family, charset, 1e-3)
    data = SyntheticCaptchas(
        charset=charset, width=64, height=32, length="2-3", grayscale=True, batch_size=4, steps=1, family=family
    )
    images, targets = data[0]
    history = model.fit(images, targets, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    outputs = model.predict(images, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    again = reloaded.predict(images, verbose=0)
    if family == "ctc":
        assert outputs.shape == (4, 8, 11)
        np.testing.assert_allclose(outputs.sum(-1), 1, atol=1e-5)
        np.testing.assert_allclose(outputs, again, atol=1e-6)
    else:
        assert sorted(outputs) == ["c1", "c2", "c3"] and outputs["c1"].shape == (4, 11)
        for head in outputs:
            np.testing.assert_allclose(outputs[head], again[head], atol=1e-6)
