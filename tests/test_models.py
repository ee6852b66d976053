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
    with pytest.raises(ValueError, match=r"needs at least height=\d+ and width=\d+. Received: height=8, width=3"):
        build_model(arch, 10, height=8, width=3)


def test_new_recognizers_keep_time_steps_and_their_published_size():
    # SVTR-Tiny as published has 4.0M parameters at 37 classes (Du et al. 2022, table 6): ours at 64x128 adds
    # the position embedding of a 16x32 token grid (512 x 64).
    tiny = build_model("svtr_tiny", 36, channels=1)
    assert 4.0e6 < tiny.count_params() < 4.3e6
    assert tiny.get_layer("tokens").output.shape == (None, 16 * 32, 64)
    assert tiny.get_layer("merge2_tokens").output.shape == (None, 4 * 32, 256)
    assert tiny.output_shape == (None, 32, 37)
    cpu = build_model("svtr_cpu", 36, channels=1)
    assert cpu.get_layer("tokens").output.shape == (None, 4 * 32, 64) and cpu.output_shape == (None, 32, 37)
    resnet = build_model("crnn_resnet", 36, channels=1)
    assert resnet.output_shape == (None, 16, 37)
    assert resnet.get_layer("stage5_block1_out").output.shape == (None, 2, 16, 192)
    # A shortcut projects only where the shape changes; the second block of stage 3 adds its input.
    names = {layer.name for layer in resnet.layers}
    assert "stage3_block1_shortcut" in names and "stage3_block2_shortcut" not in names


def test_local_mixing_sees_only_its_window():
    """Changing a token outside a token's window leaves that token's output alone; global mixing does not."""
    from captcha_keras.models.svtr import MixingAttention
    from captcha_keras.models.svtr import window_mask

    grid = (4, 12)
    tokens = np.random.default_rng(0).normal(size=(1, 48, 8)).astype("float32")
    changed = tokens.copy()
    changed[0, 11] += 5.0  # row 0, column 11: 11 columns from token 0, outside a 3x5 window
    for window, moves in (((3, 5), False), (None, True)):
        layer = MixingAttention(2, grid, window)
        before, after = np.asarray(layer(tokens)), np.asarray(layer(changed))
        assert np.abs(before[0, 0] - after[0, 0]).max() > 1e-4 if moves else np.allclose(before[0, 0], after[0, 0])
        assert np.abs(before[0, 10] - after[0, 10]).max() > 1e-4  # column 10 is a neighbour of 11
    mask = window_mask(grid, (3, 5))
    assert mask[0].sum() == 2 * 3  # rows 0-1 x columns 0-2 at the corner
    assert mask[5 + 12].sum() == 3 * 5  # row 1, column 5: rows 0-2 x columns 3-7
    # Within its window, a token's weights are the softmax of its scores there.
    layer = MixingAttention(1, grid, (3, 5))
    layer.build((None, 48, 8))
    scores = np.random.default_rng(1).normal(0, 3, (1, 1, 48, 48)).astype("float32")
    weights = np.asarray(layer._window_softmax(scores))[0, 0, 17]
    window = mask[17] == 1
    expected = np.exp(scores[0, 0, 17, window]) / np.exp(scores[0, 0, 17, window]).sum()
    np.testing.assert_allclose(weights[window], expected, rtol=1e-5)
    assert (weights[~window] == 0).all()


def test_registry_rejects_unknown_names_and_wrong_families():
    with pytest.raises(ValueError, match="crnn_ctc"):
        resolve_architecture("resnet")
    with pytest.raises(ValueError, match="multihead model"):
        resolve_architecture("crnn_ctc", family="multihead")
    assert resolve_architecture("reference", "ctc") == "crnn_ctc"


# Each architecture at a size that trains a step in a moment.
TINY = {
    arch: {"filters": (4, 4, 8, 8, 8)}
    if "svtr" not in arch
    else {
        "dims": (8, 16, 16),
        "depths": (1, 1, 1),
        "heads": (2, 2, 2),
        "local_blocks": 1,
        "out_dim": 16,
        "embed_strides": (2, 2),
    }
    for arch in ARCHITECTURES
}


# Earlier defaults and a second size of one design: their builder and layers train in another entry's
# step (the step's cost is tracing the training function); they are still built, read and reloaded.
SAME_BUILDER_AS_FITTED = {"vgg_multihead_fast", "vgg_multihead_fast_s2", "crnn_ctc_fast", "svtr_tiny"}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_tiny_models_predict_fit_and_round_trip(arch, tmp_path):
    """Shape, predict, one fit step (once per design) and a save/load round trip, for every architecture."""
    charset = Charset("digits")
    family = ARCHITECTURES[arch]["family"]
    model = build_model(arch, len(charset), height=32, width=64, channels=1, min_length=2, max_length=3, **TINY[arch])
    compile_model(model, family, charset, 1e-3)
    data = SyntheticCaptchas(
        charset=charset, width=64, height=32, length="2-3", grayscale=True, batch_size=4, steps=1, family=family
    )
    images, targets = data[0]
    if arch not in SAME_BUILDER_AS_FITTED:
        history = model.fit(images, targets, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    outputs = model.predict(images, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    again = reloaded.predict(images, verbose=0)
    if family == "ctc":
        assert outputs.shape == (4, {"svtr_tiny": 16, "svtr_cpu": 16}.get(arch, 8), 11)
        np.testing.assert_allclose(outputs.sum(-1), 1, atol=1e-5)
        np.testing.assert_allclose(outputs, again, atol=1e-6)
    else:
        assert sorted(outputs) == ["c1", "c2", "c3"] and outputs["c1"].shape == (4, 11)
        for head in outputs:
            np.testing.assert_allclose(outputs[head], again[head], atol=1e-6)
