"""The ResNet CRNN and SVTR export as the other recognizers do, and every format reads them alike."""

import os

import keras
import numpy as np
import pytest

from captcha_keras import Reader
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.export.run import export_run
from captcha_keras.inference.runtimes import load_runtime
from captcha_keras.models import build_model
from captcha_keras.runs import RunConfig

EXPORTS = [("savedmodel", None), ("onnx", None), ("litert", None), ("litert", "int8")]
# Small sizes of each design (every kind of layer, few features), built with seeded weights.
SMALL = {
    "crnn_resnet": {"filters": (8, 8, 16, 16, 16), "stem_filters": 8},
    "svtr_cpu": {
        "dims": (16, 24, 32),
        "depths": (1, 1, 1),
        "heads": (2, 2, 2),
        "local_blocks": 2,
        "out_dim": 32,
        "embed_strides": (2, 2),
    },
}


def make_run(arch, folder):
    """A run folder of `arch` reading 4 digits at 64x32 with seeded weights and a sharpened output layer.

    Random weights give outputs near uniform, where any rounding would pick
    another character; scaling the output layer's kernel spreads them, so
    that each time step has a clear winner and every format must read the
    same texts.
    """
    keras.utils.set_random_seed(0)
    model = build_model(arch, 10, height=32, width=64, channels=1, min_length=4, max_length=4, **SMALL[arch])
    probs = model.get_layer("probs")
    kernel, bias = probs.get_weights()
    probs.set_weights([kernel * 100, bias])
    os.makedirs(folder)
    model.save(os.path.join(folder, "best.keras"))
    RunConfig(arch, "ctc", "0123456789", 64, 32, 4, 4, 1).save(folder)
    return model


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_every_export_of_the_new_recognizers_is_checked_and_reads_as_keras(arch, tmp_path):
    run = str(tmp_path / arch)
    model = make_run(arch, run)
    for format, quantize in EXPORTS:
        # export_run's own checks: the reading signature against Reader, the float
        # formats' texts against the SavedModel's, int8 against the labels.
        figures = export_run(run, format, quantize=quantize, samples=40, calibration_samples=20, log=lambda _: None)
        assert figures["bytes"] > 0 and figures["check"]["samples"] == 40
    images, _ = SyntheticCaptchas("digits", 64, 32, 4, grayscale=True, batch_size=16, steps=1, seed=5, family=None)[0]
    expected = model.predict(images.astype("float32"), verbose=0)
    assert (expected.max(-1) > 0.9).mean() > 0.3  # the sharpening gives many time steps a clear winner
    for format in ("savedmodel", "onnx", "litert"):
        got = load_runtime(run, format)(images.astype("float32"))
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=format)
    # int8: the same character at nearly every time step where the float model is sure.
    got = load_runtime(run, "litert-int8")(images.astype("float32"))
    sure = expected.max(-1) > 0.9
    agree = (got.argmax(-1) == expected.argmax(-1))[sure].mean()
    print(f"int8 agreement {agree:.3f}")
    assert agree > 0.8, agree
    texts = {
        format: [r.text for r in Reader(run, format=format).read_arrays(images)]
        for format in ("savedmodel", "onnx", "litert")
    }
    assert texts["onnx"] == texts["savedmodel"] == texts["litert"]
