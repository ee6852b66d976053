"""End to end through the real scripts: train, evaluate, predict."""

import json
import os

import numpy as np
import pytest
from helpers import ROOT
from helpers import read_json
from helpers import run_script
from PIL import Image

from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import render_captcha
from captcha_keras.models import DEFAULT

RUN_FILES = [
    "best.keras",
    "config.json",
    "metrics.json",
    "training.csv",
    "model.png",
    "history.png",
    "predictions.png",
    "savedmodel/saved_model.pb",
]


def rescore(run_dir, samples, seed):
    """Scores of the run's SavedModel, in this process, on the fresh captchas a run or evaluate.py draws."""
    from captcha_keras.evaluation import confusions
    from captcha_keras.evaluation import evaluate_synthetic
    from captcha_keras.inference.reader import Reader

    scores, _, texts, readings = evaluate_synthetic(Reader(str(run_dir)), samples, seed, workers=1)
    scores["confusions"] = [[t, p, n] for (t, p), n in confusions(texts, [r.text for r in readings])]
    return scores


@pytest.mark.train  # the tiny run is picked by name, out of sight of the marker in conftest.py
@pytest.mark.parametrize(
    "fixture, family, arch", [("ctc_run", "ctc", DEFAULT["ctc"]), ("cnn_run", "multihead", DEFAULT["multihead"])]
)
def test_training_writes_every_output(fixture, family, arch, request):
    run_dir, log_dir = request.getfixturevalue(fixture)
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    for name in ("model.png", "history.png", "predictions.png"):
        with Image.open(run_dir / name) as image:
            assert image.width > 100 and image.height > 100
    config = read_json(run_dir / "config.json")
    assert config["family"] == family and config["arch"] == arch
    assert config["charset"] == "0123456789" and (config["width"], config["height"]) == (64, 32)
    metrics = read_json(run_dir / "metrics.json")
    # The recorded scores are the saved model's on the run's 40 test captchas: read them again here.
    assert (metrics["samples"], metrics["seed"], metrics["stream"]) == (40, 0, "test")
    again = rescore(run_dir, 40, 0)
    assert {key: metrics[key] for key in ("samples", "sequence_accuracy", "cer")} == {
        key: again[key] for key in ("samples", "sequence_accuracy", "cer")
    }
    assert (log_dir / "training.csv").is_file()
    events = list((log_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} >= {"train", "validation", "predictions"}


def test_evaluate_script_scores_fresh_captchas(ctc_run, tmp_path):
    run_dir, _ = ctc_run
    out = tmp_path / "scores.json"
    result = run_script(
        "evaluate.py", "--model", run_dir, "--samples", "30", "--seed", "3", "--json", out, "--workers", "1"
    )
    scores = json.loads(out.read_text())
    # What the script reports is what the run's model reads in the 30 captchas of seed 3, here too.
    again = rescore(run_dir, 30, 3)
    assert {key: scores[key] for key in again} == again
    assert (scores["seed"], scores["decoder"], scores["precision"]) == (3, "greedy", "float32")
    assert f"sequence accuracy: {scores['sequence_accuracy']:.4%}" in result.stdout


def test_evaluate_script_serves_in_bfloat16_when_asked_and_says_so(ctc_run, tmp_path):
    run_dir, _ = ctc_run
    out = tmp_path / "scores.json"
    result = run_script(
        "evaluate.py",
        "--model",
        run_dir,
        "--samples",
        "30",
        "--seed",
        "3",
        "--json",
        out,
        "--workers",
        "1",
        "--precision",
        "bfloat16",
    )
    assert json.loads(out.read_text())["precision"] == "bfloat16"
    assert "served in bfloat16" in result.stdout
    wrong = run_script("evaluate.py", "--model", run_dir, "--precision", "float16", check=False)
    assert wrong.returncode == 2 and "invalid choice: 'float16'" in wrong.stderr


def test_evaluate_script_rejects_a_folder_that_is_not_a_run(tmp_path):
    result = run_script("evaluate.py", "--model", tmp_path, check=False)
    assert result.returncode == 2 and "no config.json" in result.stderr


def test_export_script_writes_a_savedmodel_that_reads_as_the_keras_model(ctc_run, tmp_path):
    import shutil

    import keras
    import tensorflow as tf

    run_dir = tmp_path / "run"
    shutil.copytree(ctc_run[0], run_dir)
    shutil.rmtree(run_dir / "savedmodel")
    result = run_script("export.py", "--model", run_dir)
    assert f"wrote {run_dir / 'savedmodel'}" in result.stdout
    images, _ = SyntheticCaptchas("digits", 64, 32, "2-3", grayscale=True, batch_size=6, steps=1, seed=8, family=None)[
        0
    ]
    model = keras.models.load_model(run_dir / "best.keras", compile=False)
    loaded = tf.saved_model.load(str(run_dir / "savedmodel"))
    np.testing.assert_allclose(loaded.serve(tf.constant(images)).numpy(), model.predict(images, verbose=0), atol=1e-5)
    variables = tf.train.list_variables(str(run_dir / "savedmodel" / "variables" / "variables"))
    stored = sum(int(np.prod(shape)) for name, shape in variables if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    # Each batch norm's four vectors are folded into its convolution's bias.
    assert stored < model.count_params()


def test_export_script_refuses_a_folder_without_a_model(tmp_path):
    result = run_script("export.py", "--model", tmp_path, check=False)
    assert result.returncode == 2 and "has no best.keras" in result.stderr


def test_predict_script_reads_good_files_and_reports_bad_ones(cnn_run, tmp_path):
    run_dir, _ = cnn_run
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(render_captcha("123", 1, 64, 32)).save(folder / "a.png")
    Image.fromarray(render_captcha("456", 2, 160, 60)).save(folder / "b.jpg")  # another size: resized
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "truncated.png").write_bytes((folder / "a.png").read_bytes()[:200])
    result = run_script("predict.py", "--model", run_dir, folder, tmp_path / "missing.png", check=False)
    assert result.returncode == 1
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [line[0] for line in lines] == [str(folder / "a.png"), str(folder / "b.jpg")]
    for _, text, confidence in lines:
        assert len(text) <= 3 and set(text) <= set("0123456789") and 0 <= float(confidence) <= 1
    errors = result.stderr
    assert "broken.png: not an image" in errors and "truncated.png: corrupt or truncated" in errors
    assert "missing.png: no such file" in errors


def test_predict_script_survives_the_corpus_of_bad_inputs(tmp_path):
    """Every bad file gets its own ERROR line; the odd but valid ones are read; no traceback."""
    from bad_inputs import cases

    folder = tmp_path / "corpus"
    folder.mkdir()
    corpus = cases()
    for name, data, _ in corpus:
        (folder / name).write_bytes(data)
    result = run_script("predict.py", "--model", os.path.join(ROOT, "saved_models", "ctc_default"), folder, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR\t")]
    read = {line.split("\t")[0] for line in result.stdout.splitlines()}
    assert len(errors) + len(read) == len(corpus)
    for name, _, expect in corpus:
        path = str(folder / name)
        if expect == "read" or name.endswith(".tif"):  # predict.py takes any format Pillow reads
            assert path in read, name
        elif expect == "error":
            assert any(line.startswith(f"ERROR\t{path}:") for line in errors), name
