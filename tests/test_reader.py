"""The one-call Python API: Reader, per-character confidences, `allowed`, threads, bad input."""

import concurrent.futures
import io
import itertools
import os

import numpy as np
import pytest
from bad_inputs import captcha_png
from bad_inputs import cases
from PIL import Image

from captcha_keras import Reader
from captcha_keras.charset import Charset
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.images import ImageError
from captcha_keras.inference.decoding import decode_outputs
from captcha_keras.inference.readings import align_ctc
from captcha_keras.inference.readings import ctc_text_probability
from captcha_keras.inference.readings import mask_outputs
from captcha_keras.inference.readings import read_outputs
from captcha_keras.runs import SHIPPED_DIR


@pytest.fixture(scope="module")
def reader():
    return Reader()


@pytest.fixture(scope="module")
def fresh():
    """Fresh test captchas of the shipped models' kind (grayscale 128x64, 4 of 0-9A-Z)."""
    data = SyntheticCaptchas(
        charset="alnum_upper", batch_size=50, steps=4, seed=404, stream="test", grayscale=True, family=None
    )
    return draw_batches(data)


def test_the_default_reader_is_the_shipped_ctc_model(reader):
    assert reader.name == "ctc_default" and reader.config.family == "ctc"
    info = reader.info()
    assert info["charset"] == Charset("alnum_upper").characters
    assert (info["width"], info["height"], info["min_length"], info["max_length"]) == (128, 64, 4, 4)
    assert info["metrics"]["sequence_accuracy"] > 0.98


def test_an_unknown_model_names_the_shipped_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="ctc_default"):
        Reader("no_such_model")
    with pytest.raises(FileNotFoundError, match="is not a trained run: it has no config.json"):
        Reader(str(tmp_path))


def test_every_kind_of_source_reads_the_same(reader, tmp_path):
    png = captcha_png("K7QX", seed=3)
    (tmp_path / "captcha.png").write_bytes(png)
    image = Image.open(io.BytesIO(png))
    array = np.asarray(image)
    sources = [png, image, array, array.astype("float32"), str(tmp_path / "captcha.png"), tmp_path / "captcha.png"]
    readings = [reader.read(source) for source in sources]
    assert {r.text for r in readings} == {"K7QX"}
    confidences = [r.confidence for r in readings]
    assert max(confidences) - min(confidences) <= 1e-6


def best_paths(reader, images):
    """`(text, best path's probability)` of each image, decoded straight from the model's outputs
    (calibrated by the run's temperature, as the reader reads them)."""
    from captcha_keras.inference.calibration import apply_temperature

    c = reader.config
    outputs = apply_temperature(reader.forward(images), c.family, c.temperature)
    return decode_outputs(outputs, c.family, reader.charset, lengths=(c.min_length, c.max_length))


def test_readings_equal_the_decoded_texts_and_read_many_equals_read(reader, fresh):
    images, texts = fresh
    expected = [text for text, _ in best_paths(reader, images)]
    many = reader.read_many(list(images), batch_size=64)
    assert [r.text for r in many] == expected
    assert [r.text for r in many[:5]] == [reader.read(image).text for image in images[:5]]
    # The shipped model reads most of them right: the readings are real, not placeholders.
    assert np.mean([r.text == t for r, t in zip(many, texts)]) > 0.95


def test_each_character_has_a_confidence_and_alternatives(reader, fresh):
    images, _ = fresh
    for reading in reader.read_many(list(images[:20])):
        assert "".join(c.char for c in reading.characters) == reading.text
        for c in reading.characters:
            assert 0.0 < c.confidence <= 1.0
            assert len(c.alternatives) == 3 and c.char not in [a for a, _ in c.alternatives]
            probabilities = [p for _, p in c.alternatives]
            assert probabilities == sorted(probabilities, reverse=True) and probabilities[0] <= c.confidence


def test_a_ctc_confidence_sums_the_paths_of_its_text(reader, fresh):
    """At least the best path's probability (what predict.py printed before), at most 1."""
    images, _ = fresh
    for reading, (text, best) in zip(reader.read_many(list(images[:40])), best_paths(reader, images[:40])):
        assert reading.text == text
        assert best - 1e-5 <= reading.confidence <= 1.0 + 1e-6


def test_ctc_text_probability_matches_exhaustive_search():
    rng = np.random.default_rng(9)
    for _ in range(20):
        probs = rng.dirichlet(np.ones(3), size=4)
        labels = list(rng.integers(0, 2, rng.integers(0, 3)))  # the empty text too
        total = 0.0
        for path in itertools.product(range(3), repeat=4):
            collapsed = [p for i, p in enumerate(path) if p != 2 and (i == 0 or path[i - 1] != p)]
            if collapsed == labels:
                total += np.prod([probs[t, s] for t, s in enumerate(path)])
        assert ctc_text_probability(np.log(probs), labels, 2) == pytest.approx(total, rel=1e-9, abs=1e-12)


def test_a_multihead_model_reads_with_per_head_characters(fresh):
    reader = Reader("cnn_default")
    images, texts = fresh
    readings = reader.read_many(list(images[:40]))
    assert np.mean([r.text == t for r, t in zip(readings, texts)]) > 0.9
    assert all(len(r.characters) == 4 for r in readings)


def test_allowed_masks_before_decoding_not_after():
    """Filtering the decoded text would drop the 'B'; masking lets the second choice take its place."""
    charset = Charset("AB1")
    probs = np.array(
        [
            [
                [0.05, 0.90, 0.03, 0.02],  # B, then 1
                [0.00, 0.10, 0.20, 0.70],
                [0.10, 0.05, 0.80, 0.05],
            ]
        ],
        dtype="float32",
    )
    assert read_outputs(probs, "ctc", charset)[0].text == "B1"
    masked = read_outputs(probs, "ctc", charset, allowed="A1")[0]
    assert masked.text == "A1" and set(masked.text) <= set("A1")
    assert masked.characters[0].char == "A" and masked.characters[0].confidence == pytest.approx(0.05 / 0.10)
    # The input is left as it was: no state is shared between calls.
    assert probs[0, 0, 1] == pytest.approx(0.90)
    again = mask_outputs(probs, "ctc", charset, None)
    assert again is probs


def test_allowed_on_the_shipped_model_uses_only_those_characters(reader, fresh):
    images, texts = fresh
    digits = [r.text for r in reader.read_many(list(images[:30]), allowed="0123456789")]
    assert all(set(t) <= set("0123456789") and len(t) == 4 for t in digits)
    # Where the model reads only digits anyway, the mask changes nothing.
    for image in images[:60]:
        unmasked = reader.read(image).text
        if unmasked.isdigit():
            assert reader.read(image, allowed="0123456789").text == unmasked


@pytest.mark.parametrize("allowed", ["abc", "0$", ""])
def test_characters_outside_the_charset_are_a_value_error(reader, allowed):
    with pytest.raises(ValueError, match="allowed"):
        reader.read(captcha_png(), allowed=allowed)


def test_one_reader_serves_many_threads_with_different_masks(reader, fresh):
    images, _ = fresh
    masks = [None, "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0O"]
    jobs = [(i, masks[i % len(masks)]) for i in range(64)]
    expected = {job: reader.read(images[job[0]], allowed=job[1]).text for job in jobs}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = dict(zip(jobs, pool.map(lambda job: reader.read(images[job[0]], allowed=job[1]).text, jobs)))
    assert got == expected


def test_forced_alignment_matches_exhaustive_search():
    rng = np.random.default_rng(5)
    blank = 2
    for _ in range(30):
        log_probs = np.log(rng.dirichlet(np.ones(3), size=5))
        labels = list(rng.integers(0, 2, rng.integers(1, 4)))
        best, best_frames = -np.inf, None
        for path in itertools.product(range(3), repeat=5):
            collapsed = [p for i, p in enumerate(path) if p != blank and (i == 0 or path[i - 1] != p)]
            if collapsed != labels:
                continue
            score = sum(log_probs[t, s] for t, s in enumerate(path))
            if score > best:
                best, best_frames = score, path
        frames = align_ctc(log_probs, labels, blank)
        if best_frames is None:
            assert frames is None
            continue
        # Frames of label k: the run of non-blank frames that spells it.
        runs, k = [[] for _ in labels], -1
        for t, s in enumerate(best_frames):
            if s != blank and (t == 0 or best_frames[t - 1] != s):
                k += 1
            if s != blank:
                runs[k].append(t)
        assert [list(f) for f in frames] == runs


def test_bad_inputs_give_a_clear_image_error_and_odd_images_are_read(reader):
    for name, data, expect in cases():
        try:
            reading = reader.read(data)
        except ImageError as error:
            assert expect in ("error", "either"), f"{name}: {error}"
            assert str(error).strip(), name
        else:
            assert expect in ("read", "either"), f"{name} was read as {reading.text!r}"
            assert len(reading.text) == 4 and set(reading.text) <= set(reader.charset.characters), name
    # And it still reads a good captcha right afterwards.
    assert reader.read(captcha_png("K7QX", seed=3)).text == "K7QX"


def test_a_transparent_background_reads_as_a_browser_shows_it(reader):
    """A captcha drawn dark on a transparent background: converting alpha away would make it black on black."""
    png = Image.open(io.BytesIO(captcha_png("K7QX", seed=3))).convert("L")
    ink = 255 - np.asarray(png)
    rgba = np.zeros(ink.shape + (4,), dtype="uint8")
    rgba[..., 3] = ink  # the strokes are opaque black; the rest is transparent black
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")
    assert reader.read(buffer.getvalue()).text == "K7QX"


def test_read_many_names_the_bad_image(reader):
    with pytest.raises(ImageError, match="image 1"):
        reader.read_many([captcha_png(), b"not an image"])


def test_shipped_dir_is_beside_the_package():
    assert os.path.isdir(os.path.join(SHIPPED_DIR, "ctc_default"))


def test_a_restricted_reading_never_answers_a_masked_character():
    from captcha_keras.runs import RunConfig

    # "aA" + blank: frame 1 says a (0.6) over A (0.3); frames 2-3 are blanks.
    probs = np.array([[[0.6, 0.3, 0.1], [0, 0, 1], [0.1, 0.1, 0.8]]], "float32")
    config = RunConfig(
        arch="crnn_ctc_fast", family="ctc", charset="aA", width=4, height=2, min_length=1, max_length=2, channels=1
    )
    reader = Reader.from_runtime(config, lambda images: probs)
    images = np.zeros((1, 2, 4, 1), "uint8")
    assert reader.read_arrays(images)[0].text == "a"
    assert reader.read_arrays(images, allowed="A")[0].text == "A"
    assert reader.read_arrays(images, allowed="A", lengths=(2, 2))[0].text == "AA"
    assert reader.read_arrays(images)[0].text == "a"  # a restriction holds for its call only
    with pytest.raises(ValueError, match="cannot read"):
        reader.read_arrays(images, allowed="b")
    with pytest.raises(ValueError, match="outside the run's 1-2"):
        reader.read_arrays(images, lengths=(1, 3))
