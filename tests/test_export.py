"""The SavedModel serves the Keras model's outputs without the training code."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from captcha_keras import Reader
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.runs import RunConfig

FRESH_PROCESS = """
import sys
import numpy as np
import tensorflow as tf
assert "captcha_keras" not in sys.modules
loaded = tf.saved_model.load(sys.argv[1])
served = loaded.serve
images = np.load(sys.argv[2])
for name, batch in (("all", images), ("one", images[:1])):
    out = served(tf.constant(batch))
    # The pixel signature gives what serve gives (serving_default reads image bytes).
    signature = loaded.signatures["pixels"](images=tf.constant(batch))
    for key, value in (out.items() if isinstance(out, dict) else [(None, out)]):
        got = signature[key] if key else next(iter(signature.values()))
        np.testing.assert_allclose(got.numpy(), value.numpy(), atol=1e-6)
    if isinstance(out, dict):
        np.savez(sys.argv[3] + name, **{k: v.numpy() for k, v in out.items()})
    else:
        np.savez(sys.argv[3] + name, probs=out.numpy())
"""


def keras_outputs(run_dir, images):
    model = keras.models.load_model(run_dir / "best.keras", compile=False)
    outputs = model.predict(images, verbose=0)
    return outputs if isinstance(outputs, dict) else {"probs": outputs}


def test_savedmodel_in_a_fresh_process_matches_keras(ctc_run, cnn_run, tmp_path):
    for run_dir, _ in (ctc_run, cnn_run):
        config = RunConfig.load(run_dir)
        images, _ = SyntheticCaptchas(
            config.charset,
            config.width,
            config.height,
            (config.min_length, config.max_length),
            grayscale=config.grayscale,
            batch_size=5,
            steps=1,
            seed=99,
            family=None,
        )[0]
        np.save(tmp_path / "images.npy", images)
        prefix = str(tmp_path / f"served_{config.family}_")
        subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS, str(run_dir / "savedmodel"), str(tmp_path / "images.npy"), prefix],
            check=True,
            capture_output=True,
        )
        expected = keras_outputs(run_dir, images)
        for name, count in (("all", 5), ("one", 1)):
            served = np.load(prefix + name + ".npz")
            assert sorted(served.files) == sorted(expected)
            for key in expected:
                assert served[key].shape[0] == count
                np.testing.assert_allclose(served[key], expected[key][:count], atol=1e-5)


def test_the_reader_reads_as_the_keras_model_does():
    """The SavedModel a Reader loads gives the trainable model's readings, texts and confidences.

    On the shipped model and captchas of its kind, which it reads with clear
    margins: a tiny model's near-ties would make equal texts a matter of float rounding.
    """
    from captcha_keras.data.synthetic import draw_test_set
    from captcha_keras.inference.readings import read_outputs
    from captcha_keras.runs import SHIPPED_DIR

    run_dir = os.path.join(SHIPPED_DIR, "ctc_default")
    reader = Reader(run_dir)
    images, _ = draw_test_set(reader.config, 16, seed=5)
    c = reader.config
    from captcha_keras.inference.calibration import apply_temperature

    # The Keras model's own outputs, calibrated by the run's temperature as every reader does.
    expected = read_outputs(
        apply_temperature(keras_outputs(pathlib.Path(run_dir), images)["probs"], "ctc", c.temperature),
        "ctc",
        reader.charset,
        lengths=(c.min_length, c.max_length),
    )
    got = reader.read_arrays(images)
    assert [r.text for r in got] == [r.text for r in expected]
    np.testing.assert_allclose([r.confidence for r in got], [r.confidence for r in expected], rtol=1e-3)


def test_savedmodel_stores_each_weight_once(ctc_run, cnn_run):
    # keras' model.export writes every weight twice (keras-team/keras#23553).
    import tensorflow as tf

    from captcha_keras.export import fold_batch_norms

    for run_dir, _ in (ctc_run, cnn_run):
        model = keras.models.load_model(run_dir / "best.keras", compile=False)
        served = fold_batch_norms(model)
        stored = tf.train.list_variables(str(run_dir / "savedmodel" / "variables" / "variables"))
        values = sum(int(np.prod(shape)) for name, shape in stored if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
        # The served (folded) model's variables: its weights plus the dropout seed states.
        assert values == sum(int(np.prod(v.shape)) for v in served.variables)
        assert values < 1.01 * served.count_params() < 1.01 * model.count_params()


@pytest.mark.parametrize("arch", ["crnn_ctc_fast_wide", "vgg_multihead_fast_s2", "vgg_multihead_fast_gru"])
def test_folding_batch_norms_keeps_the_outputs_and_removes_every_norm(arch):
    from captcha_keras.export import fold_batch_norms
    from captcha_keras.models import build_model

    rng = np.random.default_rng(3)
    model = build_model(arch, 10, height=32, width=64, channels=1)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for norm in norms:
        # Statistics far from the initial ones, so that a wrong fold shows.
        n = norm.gamma.shape[0]
        norm.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 1, n), rng.normal(0, 1, n), rng.uniform(0.1, 4, n)])
    folded = fold_batch_norms(model)
    assert norms and not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert folded.count_params() < model.count_params()
    assert folded.output_names == model.output_names
    images = rng.integers(0, 256, (3, 32, 64, 1)).astype("float32")
    expected = keras.tree.flatten(model(images, training=False))
    got = keras.tree.flatten(folded(images, training=False))
    for a, b in zip(expected, got):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)
