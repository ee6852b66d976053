import concurrent.futures

import numpy as np
import pytest

from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches
from captcha_keras.data.synthetic import render_captcha
from captcha_keras.data.texts import character_weights
from captcha_keras.data.texts import random_texts
from captcha_keras.data.texts import resolve_emphasis


def tiny(**kwargs):
    settings = dict(charset="digits", width=64, height=32, batch_size=4, steps=6, seed=7)
    settings.update(kwargs)
    return SyntheticCaptchas(**settings)


def test_same_seed_and_index_same_batch():
    a, b = tiny(), tiny()
    images_a, labels_a = a[3]
    images_b, labels_b = b[3]
    np.testing.assert_array_equal(images_a, images_b)
    np.testing.assert_array_equal(labels_a, labels_b)


def test_other_seed_index_or_stream_differs():
    images, _ = tiny()[0]
    assert not np.array_equal(images, tiny()[1][0])
    assert not np.array_equal(images, tiny(seed=8)[0][0])
    assert not np.array_equal(images, tiny(stream="validation")[0][0])


def test_batches_do_not_depend_on_workers_or_order():
    data = tiny()
    sequential = [data.draw_batch(i) for i in range(len(data))]
    # Threads drawing in reverse order, all at once.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(data.draw_batch, reversed(range(len(data)))))[::-1]
    # Processes, through the parallel drawing helper.
    images, texts = draw_batches(data, workers=2)
    for (seq_images, seq_texts), (thr_images, thr_texts) in zip(sequential, threaded):
        np.testing.assert_array_equal(seq_images, thr_images)
        assert seq_texts == thr_texts
    np.testing.assert_array_equal(images, np.concatenate([s[0] for s in sequential]))
    assert texts == [t for s in sequential for t in s[1]]


def test_seeded_drawing_leaves_the_package_random_outside():
    # Outside the dataset, ImageCaptcha still draws with real randomness.
    from captcha.image import ImageCaptcha

    generator = ImageCaptcha(width=64, height=32)
    first = np.asarray(generator.generate_image("12"))
    assert any(not np.array_equal(first, np.asarray(generator.generate_image("12"))) for _ in range(3))
    np.testing.assert_array_equal(render_captcha("12", 5, 64, 32), render_captcha("12", 5, 64, 32))


@pytest.mark.parametrize(
    "kwargs, shape",
    [({}, (4, 32, 64, 3)), ({"grayscale": True}, (4, 32, 64, 1)), ({"width": 100, "height": 40}, (4, 40, 100, 3))],
)
def test_shapes_and_pixel_range(kwargs, shape):
    images, labels = tiny(**kwargs)[0]
    assert images.shape == shape and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255 and images.max() > 1
    assert labels.shape == (4, 4)


def test_variable_length_targets_for_both_families():
    data = tiny(length="2-5", batch_size=64, family=None)
    _, texts = data[0]
    assert {len(t) for t in texts} == {2, 3, 4, 5}
    assert all(set(t) <= set("0123456789") for t in texts)
    _, ctc = tiny(length="2-5", batch_size=64, family="ctc")[0]
    assert ctc.shape == (64, 5)
    assert [int((row >= 0).sum()) for row in ctc] == [len(t) for t in texts]
    _, heads = tiny(length="2-5", batch_size=64, family="multihead")[0]
    assert sorted(heads) == ["c1", "c2", "c3", "c4", "c5"]
    # Positions past a label's end hold the "no character" class (10 for digits).
    assert [int((np.stack([heads[f"c{i}"] for i in range(1, 6)], 1)[r] == 10).sum()) for r in range(64)] == [
        5 - len(t) for t in texts
    ]


def test_index_past_the_end_is_an_index_error():
    with pytest.raises(IndexError):
        tiny()[6]


def test_unknown_stream_is_rejected():
    with pytest.raises(ValueError, match="Unknown stream"):
        tiny(stream="holdout")


def test_emphasized_characters_are_drawn_that_much_more_often():
    rng = np.random.default_rng(0)
    weights = character_weights("0123456789", "07", 3.0)
    texts = random_texts(rng, 5000, "0123456789", 4, 4, weights)
    counts = {c: sum(t.count(c) for t in texts) for c in "0123456789"}
    plain = np.mean([counts[c] for c in "12345689"])
    # 20,000 characters: 0 and 7 expected 5,000 times each, the rest 1,667.
    assert 2.7 < counts["0"] / plain < 3.3
    assert 2.7 < counts["7"] / plain < 3.3
    assert all(0.9 < counts[c] / plain < 1.1 for c in "12345689")


def test_no_emphasis_keeps_the_uniform_stream():
    # Emphasis off, or a factor of 1, must not change a seeded stream.
    uniform = tiny().draw_batch(2)[1]
    assert tiny(emphasize="07", emphasis=1.0).draw_batch(2)[1] == uniform
    assert tiny(emphasize="", emphasis=3.0).draw_batch(2)[1] == uniform
    assert tiny(emphasize="07", emphasis=3.0).draw_batch(2)[1] != uniform


@pytest.mark.parametrize(
    "emphasize, emphasis, message",
    [("0A", 3.0, "must be in the charset"), ("0", 0.0, "must be positive")],
)
def test_bad_emphasis_is_refused(emphasize, emphasis, message):
    with pytest.raises(ValueError, match=message):
        tiny(emphasize=emphasize, emphasis=emphasis)


@pytest.mark.parametrize(
    "emphasize, characters, expected",
    [
        ("auto", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0O"),
        ("auto", "0123456789", ""),
        ("auto", "ABO", ""),
        ("none", "0O", ""),
        ("7", "0123456789", "7"),
    ],
)
def test_auto_emphasis_picks_the_lookalikes_the_charset_has(emphasize, characters, expected):
    assert resolve_emphasis(emphasize, characters) == expected
