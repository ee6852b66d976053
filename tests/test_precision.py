import keras
import numpy as np
import pytest

from captcha_keras.models import build_model
from captcha_keras.precision import cpu_has_amx_bfloat16
from captcha_keras.precision import float32_copy
from captcha_keras.precision import resolve_precision
from captcha_keras.precision import resolve_serving_precision


def test_auto_picks_float16_on_a_gpu_bfloat16_on_an_amx_cpu_else_float32():
    assert resolve_precision("auto", gpus=["GPU:0"]) == "mixed_float16"
    assert resolve_precision("auto", gpus=["GPU:0"], amx_bfloat16=True) == "mixed_float16"
    assert resolve_precision("auto", gpus=[], amx_bfloat16=False) == "float32"
    assert resolve_precision("auto", gpus=[], amx_bfloat16=True) == "mixed_bfloat16"
    assert resolve_precision("float32", gpus=["GPU:0"]) == "float32"
    assert resolve_precision("mixed_bfloat16", gpus=[]) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Unknown precision"):
        resolve_precision("float8")


def test_serving_in_bfloat16_is_asked_for_or_picked_where_the_cpu_has_amx():
    assert resolve_serving_precision("float32", amx_bfloat16=True, gpus=[]) == "float32"
    assert resolve_serving_precision("bfloat16", amx_bfloat16=False, gpus=[]) == "bfloat16"
    assert resolve_serving_precision("auto", amx_bfloat16=True, gpus=[]) == "bfloat16"
    assert resolve_serving_precision("auto", amx_bfloat16=False, gpus=[]) == "float32"
    # The rewrite is oneDNN's, for the CPU: on a GPU machine auto keeps float32.
    assert resolve_serving_precision("auto", amx_bfloat16=True, gpus=["GPU:0"]) == "float32"
    with pytest.raises(ValueError, match="Unknown serving precision"):
        resolve_serving_precision("mixed_bfloat16")


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    with_amx = tmp_path / "amx"
    with_amx.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    without = tmp_path / "plain"
    # avx512_bf16 alone (no AMX tiles) is not enough: oneDNN would not use tiles.
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert cpu_has_amx_bfloat16(str(with_amx)) is True
    assert cpu_has_amx_bfloat16(str(without)) is False
    assert cpu_has_amx_bfloat16(str(tmp_path / "missing")) is False


@pytest.mark.parametrize("arch", ["crnn_ctc_fast", "vgg_multihead_fast"])
def test_a_mixed_precision_model_saves_as_an_equivalent_float32_model(arch):
    def build():
        return build_model(arch, 10, height=32, width=64, channels=1)

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.layers[1].compute_dtype == "bfloat16"
    # The outputs stay float32 under mixed precision: the losses take their log.
    assert all(o.dtype == "float32" for o in keras.tree.flatten(mixed.outputs))
    copy = float32_copy(mixed, build)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(mixed.get_weights(), copy.get_weights()))
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 64, 1)).astype("float32")
    mixed_out = keras.tree.flatten(mixed.predict(images, verbose=0))
    copy_out = keras.tree.flatten(copy.predict(images, verbose=0))
    for a, b in zip(mixed_out, copy_out):
        # Same weights; only the arithmetic differs (bfloat16 keeps 8 bits of mantissa).
        np.testing.assert_allclose(a, b, atol=0.05)


def test_serving_precision_restores_the_previous_setting():
    import tensorflow as tf

    from captcha_keras.precision import serving_precision

    def rewriting():
        return tf.config.optimizer.get_experimental_options().get("auto_mixed_precision_onednn_bfloat16", False)

    with serving_precision("bfloat16") as outer:
        assert outer == "bfloat16" and rewriting()
        with serving_precision("float32"):
            assert not rewriting()
        assert rewriting()
    assert not rewriting()
