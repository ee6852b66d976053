"""Calibrated confidence: temperature scaling, its fit, abstention, and the figures that judge it."""

import json
import os
import shutil

import numpy as np
import pytest
from helpers import RSC_IMAGES
from helpers import SHIPPED

from captcha_keras import Reader
from captcha_keras.charset import Charset
from captcha_keras.evaluation import precision_coverage
from captcha_keras.evaluation import reliability
from captcha_keras.evaluation import selective_scores
from captcha_keras.inference.calibration import batch_text_log_probability
from captcha_keras.inference.calibration import fit_temperature
from captcha_keras.inference.calibration import scale_probabilities
from captcha_keras.inference.calibration import text_confidences
from captcha_keras.inference.decoding import log_probabilities
from captcha_keras.inference.readings import Reading
from captcha_keras.inference.readings import abstain_below
from captcha_keras.inference.readings import ctc_text_probability
from captcha_keras.runs import CONFIG_FILE


def test_scaling_keeps_each_ranking_and_every_impossible_character():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(6), size=(5, 7)).astype("float32")
    probs[0, 0, 2] = 0.0
    probs[0, 0] /= probs[0, 0].sum()
    for temperature in (0.3, 1.0, 2.5):
        scaled = scale_probabilities(probs, temperature)
        np.testing.assert_allclose(scaled.sum(axis=-1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(scaled.argmax(axis=-1), probs.argmax(axis=-1))
        assert scaled[0, 0, 2] == 0.0
    assert scale_probabilities(probs, 3.0).max() < probs.max()  # softer
    assert scale_probabilities(probs, 0.5).max() > probs.max()  # sharper
    with pytest.raises(ValueError, match="positive"):
        scale_probabilities(probs, 0.0)


def test_the_batched_text_probability_is_the_one_image_forward_pass():
    rng = np.random.default_rng(1)
    log_probs = log_probabilities(rng.dirichlet(np.ones(5) * 0.4, size=(6, 9)))
    labels = [[0, 1], [2], [], [0, 0, 1], [3, 3], [1, 2, 3, 0]]
    batched = batch_text_log_probability(log_probs, labels, blank_index=4)
    one_by_one = [np.log(ctc_text_probability(log_probs[i], labels[i], 4)) for i in range(6)]
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-9)
    # Too many labels for the frames: no path, probability 0.
    assert batch_text_log_probability(log_probs[:1, :2], [[0, 0, 0]], 4)[0] == -np.inf


def overconfident_heads(samples, heads, classes, sharpening, seed):
    """Multi-head outputs `softmax(sharpening * z)` whose true labels are drawn from `softmax(z)`:
    a model overconfident by exactly `sharpening`, which a temperature of `sharpening` calibrates."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.5, size=(heads, samples, classes))
    logits[..., -1] = -30.0  # the "no character" class: every text is whole
    true = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    outputs = np.exp(sharpening * logits) / np.exp(sharpening * logits).sum(-1, keepdims=True)
    labels = np.array([[rng.choice(classes, p=p) for p in head] for head in true])
    charset = Charset("abcdefghij"[: classes - 1])
    truths = ["".join(charset.characters[i] for i in labels[:, s]) for s in range(samples)]
    return {f"c{h + 1}": outputs[h].astype("float32") for h in range(heads)}, charset, truths


def test_the_fit_finds_the_temperature_that_calibrates_an_overconfident_model():
    outputs, charset, truths = overconfident_heads(4000, heads=2, classes=6, sharpening=2.0, seed=3)
    fit = fit_temperature(outputs, "multihead", charset, truths)
    assert 1.6 < fit["temperature"] < 2.5
    assert fit["samples"] == 4000 and fit["errors"] > 0
    texts = ["".join(charset.characters[int(np.argmax(outputs[k][s]))] for k in ("c1", "c2")) for s in range(4000)]
    correct = [t == p for t, p in zip(truths, texts)]
    before = reliability(text_confidences(outputs, "multihead", charset, texts, 1.0), correct)[0]
    after = reliability(text_confidences(outputs, "multihead", charset, texts, fit["temperature"]), correct)[0]
    assert after < before / 2


def test_a_perfect_validation_set_does_not_make_every_reading_certain():
    # 300 readings, all right, each head 99.95-99.999% sure: with targets of 1 the
    # fit would sharpen them towards certainty; Platt's targets (301/302) soften them.
    rng = np.random.default_rng(4)
    charset = Charset("abcde")
    outputs = {}
    for head in ("c1", "c2"):
        top = rng.uniform(0.9995, 0.99999, size=300)
        probs = np.repeat(((1 - top) / 5)[:, None], 6, axis=1)
        probs[np.arange(300), rng.integers(0, 5, size=300)] = top
        outputs[head] = probs.astype("float32")
    texts = ["".join(charset.characters[int(np.argmax(outputs[h][s]))] for h in ("c1", "c2")) for s in range(300)]
    fit = fit_temperature(outputs, "multihead", charset, texts)
    assert fit["errors"] == 0 and fit["temperature"] > 1.0
    mean = text_confidences(outputs, "multihead", charset, texts, fit["temperature"]).mean()
    assert 0.99 < mean < 0.9999
    classic = fit_temperature(outputs, "multihead", charset, texts, objective="likelihood")
    assert classic["temperature"] < 1.0  # the likelihood of perfect readings only ever sharpens


def test_reliability_and_precision_coverage_on_a_small_case():
    ece, table = reliability([0.9, 0.9, 0.5, 0.5], [True, True, True, False], bins=2)
    assert ece == pytest.approx(0.05)
    assert [(row["count"], row["accuracy"]) for row in table] == [(2, 0.5), (2, 1.0)]
    thresholds, coverage, precision = precision_coverage([0.9, 0.9, 0.8, 0.5], [True, True, False, True])
    # Ties are accepted together: no threshold keeps one 0.9 without the other.
    assert thresholds.tolist() == [0.9, 0.8, 0.5]
    assert coverage.tolist() == [0.5, 0.75, 1.0]
    assert precision.tolist() == pytest.approx([1.0, 2 / 3, 0.75])
    scores = selective_scores([0.9, 0.9, 0.8, 0.5], [True, True, False, True], coverage=0.5, precision=0.999)
    assert scores["precision_at_coverage"] == 1.0 and scores["threshold_at_coverage"] == 0.9
    assert scores["coverage_at_precision"] == 0.5
    with pytest.raises(ValueError, match="one correctness per confidence"):
        reliability([0.5], [])


def test_abstention_withholds_the_text_and_says_why():
    readings = abstain_below([Reading("7K2D", 0.62, []), Reading("AB12", 0.995, [])], 0.9)
    assert readings[0].abstained and readings[0].text is None and readings[0].characters == []
    assert readings[0].confidence == 0.62
    assert readings[0].to_dict() == {
        "text": None,
        "confidence": 0.62,
        "characters": [],
        "abstained": True,
        "reason": "confidence 0.62 is below min_confidence 0.9",
    }
    assert not readings[1].abstained and readings[1].text == "AB12" and "abstained" not in readings[1].to_dict()


@pytest.fixture(scope="module")
def warm_run(tmp_path_factory):
    """A copy of the shipped really_simple_captcha run calibrated with temperature 1.7, re-exported."""
    from captcha_keras.export.savedmodel import reexport_run

    run = tmp_path_factory.mktemp("calibrated") / "rsc"
    shutil.copytree(os.path.join(SHIPPED, "really_simple_captcha"), run)
    with open(run / CONFIG_FILE) as f:
        config = json.load(f)
    config["temperature"] = 1.7
    with open(run / CONFIG_FILE, "w") as f:
        json.dump(config, f)
    reexport_run(str(run))
    return run


def test_a_run_reads_with_its_temperature_in_python_and_in_the_savedmodel_graph(warm_run):
    import tensorflow as tf

    files = sorted(os.listdir(RSC_IMAGES))[:24]
    paths = [os.path.join(RSC_IMAGES, f) for f in files]
    plain = Reader("really_simple_captcha").read_many(paths)
    warm = Reader(str(warm_run))
    assert warm.info()["temperature"] == 1.7
    calibrated = warm.read_many(paths)
    assert [r.text for r in calibrated] == [r.text for r in plain]
    # A softer distribution: every confident reading is less so.
    assert all(c.confidence < p.confidence for c, p in zip(calibrated, plain) if p.confidence < 0.999999)
    assert sum(c.confidence < p.confidence for c, p in zip(calibrated, plain)) > 0
    loaded = tf.saved_model.load(str(warm_run / "savedmodel"))
    contents = tf.constant([open(p, "rb").read() for p in paths])
    graph = loaded.signatures["serving_default"](images=contents)
    assert [t.decode() for t in graph["text"].numpy()] == [r.text for r in calibrated]
    np.testing.assert_allclose(graph["confidence"].numpy(), [r.confidence for r in calibrated], atol=1e-3)


def test_min_confidence_abstains_on_exactly_the_readings_below_it(warm_run):
    reader = Reader(str(warm_run))
    paths = [os.path.join(RSC_IMAGES, f) for f in sorted(os.listdir(RSC_IMAGES))[:40]]
    readings = reader.read_many(paths)
    threshold = float(np.median([r.confidence for r in readings]))
    gated = reader.read_many(paths, min_confidence=threshold)
    for full, kept in zip(readings, gated):
        assert kept.abstained == (full.confidence < threshold)
        assert kept.text == (None if kept.abstained else full.text)
    assert reader.read(paths[0], min_confidence=0.0).text == readings[0].text
    for bad in (-0.1, 1.5, "0.9", True):
        with pytest.raises(ValueError, match="min_confidence"):
            reader.read(paths[0], min_confidence=bad)


def test_evaluate_reports_the_confidences_into_a_run_of_yours_but_not_a_shipped_one(warm_run, tmp_path, capsys):
    from captcha_keras.cli.evaluate import default_report_dir
    from captcha_keras.cli.evaluate import main as evaluate
    from captcha_keras.evaluation import selective_scores

    assert evaluate(["--model", str(warm_run), "--data", RSC_IMAGES, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "expected calibration error" in out and "min_confidence -> coverage" in out
    report = warm_run / "evaluations" / "really_simple_captcha_images.json"
    assert report.is_file()
    assert (warm_run / "evaluations" / "really_simple_captcha_images_calibration.png").stat().st_size > 0
    with open(report) as f:
        scores = json.load(f)
    # The figures are those of the run's own readings of the folder.
    files = sorted(os.listdir(RSC_IMAGES))
    readings = Reader(str(warm_run)).read_many([os.path.join(RSC_IMAGES, f) for f in files])
    truths = [f.split(".")[0].split("_")[0] for f in files]
    expected = selective_scores([r.confidence for r in readings], [r.text == t for r, t in zip(readings, truths)])
    assert scores["ece"] == pytest.approx(expected["ece"], abs=1e-6)
    assert scores["precision_at_coverage"] == pytest.approx(expected["precision_at_coverage"])
    assert [row["min_confidence"] for row in scores["coverage_table"]] == [0.5, 0.9, 0.99, 0.999]
    # A shipped model's folder (the clone's or the package's) is never written to.
    assert default_report_dir(Reader("really_simple_captcha")) is None
    assert default_report_dir(Reader("ctc_default")) is None


def test_calibrate_fits_a_trained_run_again_and_exports_its_savedmodel(tmp_path, capsys):
    from captcha_keras.cli.calibrate import main as calibrate
    from captcha_keras.data.folder import read_folder

    run = tmp_path / "rsc"
    shutil.copytree(os.path.join(SHIPPED, "really_simple_captcha"), run)
    with open(run / CONFIG_FILE) as f:
        shipped = json.load(f)["temperature"]
    assert calibrate(["--model", str(run), "--data", RSC_IMAGES, "--dry-run", "--workers", "1"]) == 0
    assert "temperature" in capsys.readouterr().out
    with open(run / CONFIG_FILE) as f:
        assert json.load(f)["temperature"] == shipped  # --dry-run changes nothing
    assert calibrate(["--model", str(run), "--data", RSC_IMAGES, "--workers", "1"]) == 0
    with open(run / CONFIG_FILE) as f:
        temperature = json.load(f)["temperature"]
    # The fit the command made is the library's on the same images.
    reader = Reader(str(run))
    data = read_folder(RSC_IMAGES, reader.config.width, reader.config.height, 1, progress=None)
    fit = fit_temperature(reader.forward(data.images), "ctc", reader.charset, data.texts, (4, 4))
    assert temperature == fit["temperature"]
    with open(run / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["calibration"]["temperature"] == temperature and "ece" not in metrics  # the old figures go
    # The SavedModel's graph reads with it.
    import tensorflow as tf

    path = os.path.join(RSC_IMAGES, sorted(os.listdir(RSC_IMAGES))[0])
    graph = tf.saved_model.load(str(run / "savedmodel")).signatures["serving_default"](
        images=tf.constant([open(path, "rb").read()])
    )
    assert float(graph["confidence"][0]) == pytest.approx(reader.read(path).confidence, abs=1e-3)


def test_calibrate_refuses_too_few_images_and_a_folder_run_without_its_folder(tmp_path, capsys):
    from captcha_keras.cli.calibrate import main as calibrate

    few = tmp_path / "few"
    few.mkdir()
    for name in sorted(os.listdir(RSC_IMAGES))[:30]:
        shutil.copyfile(os.path.join(RSC_IMAGES, name), few / name)
    with pytest.raises(SystemExit):
        calibrate(["--model", "really_simple_captcha", "--data", str(few), "--dry-run", "--workers", "1"])
    assert "at least 200" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        calibrate(["--model", "really_simple_captcha", "--dry-run"])
    assert "was trained on a folder" in capsys.readouterr().err
