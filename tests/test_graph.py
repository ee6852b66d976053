"""The in-graph reading of the SavedModel: decoding, preprocessing and CTC decoding in TensorFlow."""

import dataclasses
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from captcha_keras.charset import Charset
from captcha_keras.export import graph
from captcha_keras.images import FUSIONS
from captcha_keras.images import MAX_FRAMES
from captcha_keras.images import load_image
from captcha_keras.images import to_model_input
from captcha_keras.inference.decoding import best_path_within
from captcha_keras.inference.decoding import decode_ctc
from captcha_keras.inference.decoding import decode_multihead
from captcha_keras.inference.readings import read_outputs
from captcha_keras.runs import RunConfig


def encoded(image, format):
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def sample_images():
    """Every mode the decoders meet, at sizes that shrink, keep and grow the input."""
    rng = np.random.default_rng(0)
    for width, height in ((72, 24), (128, 64), (200, 70), (50, 20)):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        alpha = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
        alpha[: height // 2] = 0  # fully transparent half: white, as a browser shows it
        palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        palette.info["transparency"] = 0
        yield "RGB", Image.fromarray(rgb)
        yield "L", Image.fromarray(rgb[..., 0])
        yield "RGBA", Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA")
        yield "LA", Image.fromarray(np.concatenate([rgb[..., :1], alpha], -1), "LA")
        yield "P+transparency", palette
        keyed = Image.fromarray(rgb)
        keyed.info["transparency"] = tuple(int(v) for v in rgb[0, 0])  # a colour key: that colour is transparent
        yield "RGB+key", keyed
        grey_keyed = Image.fromarray(rgb[..., 0])
        grey_keyed.info["transparency"] = int(rgb[0, 0, 0])
        yield "L+key", grey_keyed


# Which modes each format stores as they are (JPEG: no alpha; GIF: a palette of RGB).
FORMAT_MODES = {
    "PNG": {"RGB", "L", "RGBA", "LA", "P+transparency", "RGB+key", "L+key"},
    "JPEG": {"RGB", "L"},
    "BMP": {"RGB", "L", "RGBA"},
    "GIF": {"RGB", "L"},
}
CONFIGS = [
    RunConfig("a", "ctc", "ab", 128, 64, 1, 1, 1, False),
    RunConfig("a", "ctc", "ab", 96, 32, 1, 1, 1, False),
    RunConfig("a", "ctc", "ab", 128, 64, 1, 1, 3, True),
]


@pytest.mark.parametrize("format", sorted(FORMAT_MODES))
@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: f"{c.width}x{c.height}x{c.channels}{'-pad' if c.keep_aspect else ''}"
)
def test_graph_preprocessing_matches_pillow_within_one_level(format, config):
    checked = 0
    for mode, image in sample_images():
        if mode not in FORMAT_MODES[format]:
            continue
        data = encoded(image, format)
        expected = to_model_input(load_image(data), config.width, config.height, config.channels, config.keep_aspect)
        got = graph.preprocess(tf.constant(data), config, 10**8).numpy()
        assert got.shape == expected.shape
        difference = np.abs(got.astype(int) - expected.astype(int))
        # Pillow's resize weights are 22-bit fixed point, the graph's floats.
        assert difference.max() <= 1, (mode, image.size)
        if image.size == (config.width, config.height) and not config.keep_aspect:
            assert difference.max() == 0, (mode, "no resize: the same integer arithmetic")
        checked += 1
    assert checked >= 8


def animations():
    """Animated GIFs of blinking boxes, dark on light and light on dark, in each disposal and with frames
    cropped to what changed, of odd and even frame counts (the fusion's median differs)."""
    for count in (2, 3, 5):
        for dark in (True, False):
            frames = []
            for f in range(count):
                array = np.full((32, 96, 3), 230 if dark else 25, np.uint8)
                for c in range(4):
                    if c % count == f:
                        array[8:24, 6 + 22 * c : 20 + 22 * c] = (20, 40, 200) if dark else (240, 200, 90)
                array[(5 * f) % 32, :] = (120, 60, 30)  # a noise line that moves
                frames.append(Image.fromarray(array))
            for options in ({}, {"disposal": 2, "optimize": True}, {"disposal": 1}):
                buffer = io.BytesIO()
                frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, **options)
                yield buffer.getvalue()


@pytest.mark.parametrize(
    "config, fusion",
    # Every fusion at the frames' own size (no resize: the same integers), the default resized too.
    [(CONFIGS[1], fusion) for fusion in FUSIONS] + [(CONFIGS[0], "salient"), (CONFIGS[2], "salient")],
    ids=lambda value: value if isinstance(value, str) else f"{value.width}x{value.height}x{value.channels}",
)
def test_an_animated_gif_is_fused_in_the_graph_as_readers_fuse_it(config, fusion):
    config = dataclasses.replace(config, fusion=fusion)
    for data in animations():
        image = load_image(data, fusion=fusion)
        expected = to_model_input(image, config.width, config.height, config.channels, config.keep_aspect)
        got = graph.preprocess(tf.constant(data), config, 10**8).numpy()
        difference = np.abs(got.astype(int) - expected.astype(int)).max()
        # At the frames' own size no resize: the same integers; else Pillow's fixed-point resize.
        assert difference <= (0 if (config.width, config.height) == (96, 32) else 1)


def test_an_animation_of_too_many_frames_is_refused_in_the_graph():
    frames = [Image.new("L", (8, 8), i) for i in range(MAX_FRAMES + 1)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"more than {MAX_FRAMES} frames"):
        graph.preprocess(tf.constant(buffer.getvalue()), CONFIGS[0], 10**8)


def test_transparent_background_turns_white_not_black():
    rgba = np.zeros((64, 128, 4), np.uint8)
    rgba[20:40, 30:90] = (0, 0, 0, 255)  # black strokes on a transparent background
    got = graph.preprocess(tf.constant(encoded(Image.fromarray(rgba, "RGBA"), "PNG")), CONFIGS[0], 10**8).numpy()
    assert got[0, 0, 0] == 255 and got[30, 60, 0] == 0


def test_webp_and_unknown_formats_are_refused_not_decoded_unchecked():
    webp = encoded(Image.new("RGB", (64, 32)), "WEBP")
    with pytest.raises(tf.errors.InvalidArgumentError, match="Not an image this model reads"):
        graph.preprocess(tf.constant(webp), CONFIGS[0], 10**8)


def test_enormous_images_are_refused_from_their_header_before_decoding():
    big = encoded(Image.new("L", (3000, 2000), 255), "PNG")
    jpeg = encoded(Image.new("RGB", (3000, 2000)), "JPEG")
    for data in (big, jpeg):
        with pytest.raises(tf.errors.InvalidArgumentError, match="more pixels than this model accepts"):
            graph.preprocess(tf.constant(data), CONFIGS[0], 5_000_000)
    assert graph.header_pixels(tf.constant(big)).numpy() == 6_000_000
    assert graph.header_pixels(tf.constant(encoded(Image.new("RGB", (30, 20)), "BMP"))).numpy() == 600
    assert graph.header_pixels(tf.constant(encoded(Image.new("RGB", (30, 20)), "GIF"))).numpy() == 600


@pytest.mark.parametrize(
    "data", [b"", b"not an image", encoded(Image.new("L", (64, 32)), "PNG")[:60]], ids=["empty", "text", "truncated"]
)
def test_bytes_that_are_no_image_fail_with_an_error(data):
    with pytest.raises(tf.errors.InvalidArgumentError):
        graph.preprocess(tf.constant(data), CONFIGS[0], 10**8)


@pytest.mark.parametrize("lengths", [(1, 1), (2, 3), (0, 4), (4, 4), (6, 6)])
def test_graph_ctc_decoding_equals_numpy_best_path_within(lengths):
    rng = np.random.default_rng(sum(lengths))
    probs = rng.dirichlet(np.full(5, 0.3), size=(64, 8)).astype("float32")
    probs[:8, :, 4] = 0.97  # mostly blank: greedy reads too few characters
    probs[8:16, :, 4] = 0.0  # never blank
    probs /= probs.sum(-1, keepdims=True)
    log_probs = np.log(np.clip(probs, 1e-12, 1.0)).astype("float64")
    path, log_p = graph.ctc_best_path_within(tf.constant(log_probs), *lengths, blank_index=4)
    expected = best_path_within(log_probs, *lengths, blank_index=4)
    np.testing.assert_allclose(log_p.numpy(), [p for _, p in expected], rtol=1e-9)
    config = RunConfig("a", "ctc", "abcd", 8, 8, *lengths, 1, False)
    texts, confidences = graph.ctc_texts(tf.constant(probs), config)
    charset = Charset("abcd")
    decoded = decode_ctc(probs, charset, lengths=lengths)
    assert [t.decode() for t in texts.numpy()] == [t for t, _ in decoded]
    # The confidence is the Reader's: the text's probability over all its alignments.
    readings = read_outputs(probs, "ctc", charset, lengths=lengths)
    np.testing.assert_allclose(confidences.numpy(), [r.confidence for r in readings], rtol=1e-4, atol=1e-30)
    assert all(r.confidence >= c * (1 - 1e-4) for r, (_, c) in zip(readings, decoded))  # at least the best path's
    if lengths == (6, 6):  # 8 frames cannot always hold 6 labels: no path, an empty text
        assert all(len(t) in (0, 6) for t, _ in decoded)


def test_graph_multihead_decoding_equals_python_and_reads_no_character_as_nothing():
    rng = np.random.default_rng(3)
    heads = {f"c{i}": rng.dirichlet(np.ones(4), size=32).astype("float32") for i in range(1, 12)}
    for head in heads.values():
        head[:5, 3] = 0.0
    heads["c2"][:5] = [0, 0, 0, 1]  # "no character" (the class after the charset)
    texts, confidences = graph.head_texts({k: tf.constant(v) for k, v in heads.items()}, "abc")
    expected = decode_multihead([heads[f"c{i}"] for i in range(1, 12)], Charset("abc"))
    assert [t.decode() for t in texts.numpy()] == [t for t, _ in expected]
    assert all(len(t) == 10 for t, _ in expected[:5])
    np.testing.assert_allclose(confidences.numpy(), [c for _, c in expected], rtol=1e-5)
