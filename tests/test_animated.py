"""Animated captchas: every frame read as a browser shows it, fused into one image, bounded before decoding."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from captcha_keras import Reader
from captcha_keras.data.folder import decode_images
from captcha_keras.data.styles import _blinks
from captcha_keras.data.styles import encode_animation
from captcha_keras.data.styles import render_animation
from captcha_keras.data.styles import render_style
from captcha_keras.images import FUSIONS
from captcha_keras.images import MAX_FRAMES
from captcha_keras.images import ImageError
from captcha_keras.images import ImageTooLarge
from captcha_keras.images import fuse_frames
from captcha_keras.images import gif_frames
from captcha_keras.images import load_image
from captcha_keras.images import to_model_input

BOXES = [(6 + 22 * c, 20 + 22 * c) for c in range(4)]


def blinking(count, dark_text=True, shown=None):
    """Frames of four boxes ("characters") on a plain background, box c drawn only in the frames
    `shown[frame][c]` says; by default box c in frame c % count only: no frame shows all."""
    background, ink = (230, 20) if dark_text else (25, 240)
    shown = shown or [[c % count == f for c in range(4)] for f in range(count)]
    frames = []
    for visible in shown:
        array = np.full((32, 96, 3), background, np.uint8)
        for c, (left, right) in enumerate(BOXES):
            if visible[c]:
                array[8:24, left:right] = (ink, ink, 200 if dark_text else 90)
        frames.append(array)
    return frames


def boxes_drawn(image):
    """Which of the four boxes stand out of the background in an RGB image."""
    row = np.asarray(image.convert("L"), dtype=int)[16]
    return [bool(abs(row[left:right].mean() - row[0]) > 60) for left, right in BOXES]


def gif_bytes(frames, **options):
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("dark_text", [True, False], ids=["dark-on-light", "light-on-dark"])
@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_the_fusions_show_every_character_that_any_frame_shows(dark_text, count):
    frames = blinking(count, dark_text)
    assert not any(all(boxes_drawn(Image.fromarray(f))) for f in frames)  # no frame shows all
    assert boxes_drawn(fuse_frames(frames, "salient")) == [True] * 4
    assert boxes_drawn(fuse_frames(frames, "first")) == boxes_drawn(Image.fromarray(frames[0]))
    # A character shown in most frames stays too (a per-pixel median would pick the frame it fades in).
    most = blinking(count, dark_text, [[c != f % 4 for c in range(4)] for f in range(count)])
    assert boxes_drawn(fuse_frames(most, "salient")) == [True] * 4
    # The mean (the default, docs/animated.md) keeps each at a contrast in proportion to its frames.
    row = np.asarray(fuse_frames(frames, "mean").convert("L"), dtype=int)[16]
    assert all(abs(row[left:right].mean() - row[0]) > 150 / count for left, right in BOXES)
    # The polarity-bound fusions see only text of their polarity.
    bound = "darkest" if dark_text else "lightest"
    assert boxes_drawn(fuse_frames(frames, bound)) == [True] * 4
    with pytest.raises(ValueError, match="Unknown fusion"):
        fuse_frames(frames, "loudest")
    assert set(FUSIONS) >= {"salient", "darkest", "lightest", "median", "mean", "first"}


@pytest.mark.parametrize(
    "options",
    [{}, {"disposal": 1}, {"disposal": 2}, {"disposal": 2, "optimize": True}, {"disposal": 1, "optimize": True}],
    ids=["none", "keep", "background", "background-cropped", "keep-cropped"],
)
def test_a_gif_is_read_whole_as_a_browser_composites_it_then_fused(options):
    frames = blinking(4)
    data = gif_bytes(frames, **options)
    # Cropped frames are smaller than the screen: Pillow composites them onto what the previous left.
    assert gif_frames(io.BytesIO(data)) == 4
    fused = load_image(data)
    assert fused.mode == "RGB" and fused.size == (96, 32)
    np.testing.assert_array_equal(np.asarray(fused), np.asarray(fuse_frames(frames)))


def test_a_stray_byte_between_frames_is_skipped_as_pillow_skips_it_not_an_end_to_the_count():
    data = many_frames_gif(MAX_FRAMES + 50)
    second = data.index(b",", data.index(b",") + 1)  # the second image descriptor
    spliced = data[: second - 8] + b"\x00" + data[second - 8 :]  # before its graphic control extension
    assert gif_frames(io.BytesIO(spliced), limit=10**6) == Image.open(io.BytesIO(spliced)).n_frames
    with pytest.raises(ImageTooLarge, match="frames allowed"):
        load_image(spliced)


def test_a_phone_jpeg_with_two_pictures_reads_as_its_first_not_as_an_animation():
    first, second = Image.fromarray(blinking(2)[0]), Image.new("RGB", (40, 20), (0, 0, 0))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert image.format == "MPO" and image.is_animated
    assert load_image(buffer.getvalue()).size == (96, 32)


def test_a_still_gif_and_other_formats_read_as_before():
    still = gif_bytes(blinking(1))
    assert gif_frames(io.BytesIO(still)) == 1 and load_image(still).mode == "P"
    png = io.BytesIO()
    Image.fromarray(blinking(4)[0]).save(png, "PNG")
    assert load_image(png.getvalue()).mode == "RGB"


def test_an_animated_png_and_webp_are_fused_too():
    frames = [Image.fromarray(f) for f in blinking(3)]
    for format in ("PNG", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, format, save_all=True, append_images=frames[1:], duration=100, lossless=True)
        assert boxes_drawn(load_image(buffer.getvalue())) == [True] * 4, format


def many_frames_gif(frames, size=(10, 10)):
    images = [Image.new("L", size, i % 256) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def test_too_many_frames_are_refused_before_any_is_decoded():
    data = many_frames_gif(MAX_FRAMES + 100)
    with pytest.raises(ImageTooLarge, match=f"more than the {MAX_FRAMES} frames allowed"):
        load_image(data)
    # The count stops past the limit: nothing beyond it is even walked.
    assert gif_frames(io.BytesIO(data)) == MAX_FRAMES + 1
    assert gif_frames(io.BytesIO(data), limit=10**6) == MAX_FRAMES + 100
    # Frames whose image data is garbage: refused for their number, so never decoded.
    corrupt = bytearray(data)
    for at in range(len(corrupt)):
        if corrupt[at] == 0x2C and at + 11 < len(corrupt):  # an image descriptor: spoil its LZW code size
            corrupt[at + 10] = 0xFF
    with pytest.raises(ImageTooLarge, match="frames allowed"):
        load_image(bytes(corrupt))


def test_frames_times_pixels_are_bounded_by_max_pixels():
    data = many_frames_gif(20, size=(100, 100))
    assert load_image(data, max_pixels=200_000).size == (100, 100)
    with pytest.raises(ImageTooLarge, match="20 frames of 100x100 are 200,000 pixels, more than the 100,000"):
        load_image(data, max_pixels=100_000)


def test_a_frame_outside_the_screen_is_refused():
    data = bytearray(many_frames_gif(3, size=(20, 10)))
    # The second image descriptor: widen its frame past the 20x10 screen.
    second = [i for i in range(len(data)) if data[i] == 0x2C and data[i + 5 : i + 9] == struct.pack("<HH", 20, 10)]
    assert len(second) >= 2
    data[second[1] + 5 : second[1] + 7] = struct.pack("<H", 5000)
    with pytest.raises(ImageTooLarge, match=r"frame 2 \(5000x10 at 0,0\) lies outside the GIF's 20x10 screen"):
        load_image(bytes(data))


def test_a_truncated_animation_is_a_clear_error():
    data = gif_bytes(blinking(5))
    for cut in (len(data) // 2, len(data) - 5):
        with pytest.raises(ImageError, match="truncated|corrupt"):
            load_image(data[:cut])


def test_the_gif_style_draws_blinking_characters_and_reads_as_its_file_reads():
    for seed in range(20):
        shown = _blinks(__import__("random").Random(seed), 5, 4)
        assert all(any(f[c] for f in shown) for c in range(5)) and not any(all(f) for f in shown)
    frames = render_animation("K7QX", 3, 128, 64)
    assert 3 <= len(frames) <= 8 and all(f.size == (128, 64) for f in frames)
    assert not all(np.array_equal(np.asarray(frames[0]), np.asarray(f)) for f in frames[1:])
    drawn = np.asarray(render_style("gif", "K7QX", 3, 128, 64))
    np.testing.assert_array_equal(drawn, np.asarray(load_image(encode_animation(frames))))
    np.testing.assert_array_equal(drawn, np.asarray(render_style("gif", "K7QX", 3, 128, 64)))


def test_every_reader_reads_the_fused_frames(tmp_path):
    """Reader (path and bytes) and folder loading read an animated GIF as its fused frames."""
    frames = blinking(4)
    data = gif_bytes(frames)
    (tmp_path / "AB12.gif").write_bytes(data)
    Image.fromarray(np.asarray(fuse_frames(frames))).save(tmp_path / "fused.png")
    reader = Reader()
    by_path, by_bytes, fused = (
        reader.read(str(tmp_path / "AB12.gif")),
        reader.read(data),
        reader.read(str(tmp_path / "fused.png")),
    )
    assert by_path.text == by_bytes.text == fused.text and by_path.confidence == pytest.approx(fused.confidence)
    images, ok, problems = decode_images(str(tmp_path), ["AB12.gif"], 96, 32, 1)
    assert ok == [0] and not problems
    np.testing.assert_array_equal(images[0], to_model_input(load_image(tmp_path / "fused.png"), 96, 32, 1))


def test_generate_writes_gifs_that_read_as_the_stream_draws_them(tmp_path):
    from captcha_keras.data.generate import generate_folder
    from captcha_keras.data.synthetic import SyntheticCaptchas

    generate_folder(str(tmp_path), 6, length="4-6", width=96, height=32, style="gif", workers=1, progress=False)
    generate_folder(
        str(tmp_path / "gray"),
        6,
        length="4-6",
        width=96,
        height=32,
        style="gif",
        grayscale=True,
        workers=1,
        progress=False,
    )
    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert len(files) == 6 and all(f.endswith(".gif") for f in files)
    stream = SyntheticCaptchas(
        "alnum_upper", 96, 32, "4-6", batch_size=128, steps=1, seed=0, family=None, style="gif", stream="train"
    )
    images, texts = stream.draw_batch(0)
    gray = SyntheticCaptchas(
        "alnum_upper", 96, 32, "4-6", batch_size=128, steps=1, seed=0, family=None, style="gif", grayscale=True
    ).draw_batch(0)[0]
    for index in range(6):
        name = next(f for f in files if f.endswith(f"_{index}.gif"))
        assert name.rsplit("_", 1)[0] == texts[index]
        with Image.open(tmp_path / name) as opened:
            assert opened.is_animated and opened.n_frames >= 3
        np.testing.assert_array_equal(np.asarray(load_image(tmp_path / name)), images[index])
        # A gray run reads the colour GIF in gray: the very image its training draws.
        fused = load_image(tmp_path / "gray" / name)
        np.testing.assert_array_equal(to_model_input(fused, 96, 32, 1), gray[index])
