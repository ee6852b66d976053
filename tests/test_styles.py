import collections
import hashlib

import numpy as np
import pytest

from captcha_keras.arithmetic import answer
from captcha_keras.data.styles import ARITHMETIC_CHARACTERS
from captcha_keras.data.styles import MIX
from captcha_keras.data.styles import STYLES
from captcha_keras.data.styles import mix_styles
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import render_captcha


def stream(style, **kwargs):
    settings = dict(
        charset="alnum", width=96, height=32, length="4-8", batch_size=8, steps=3, seed=5, family=None, style=style
    )
    if style == "arith":
        settings["charset"] = ARITHMETIC_CHARACTERS
        settings["length"] = "3-7"
    settings.update(kwargs)
    return SyntheticCaptchas(**settings)


@pytest.mark.parametrize("style", STYLES + ("mix",))
def test_each_style_is_deterministic_sized_and_labelled(style):
    data = stream(style)
    images, texts = data.draw_batch(1)
    again, texts_again = stream(style).draw_batch(1)
    np.testing.assert_array_equal(images, again)
    assert texts == texts_again
    assert images.shape == (8, 32, 96, 3) and images.dtype == np.uint8
    assert not np.array_equal(images, data.draw_batch(2)[0])
    assert not np.array_equal(images, stream(style, seed=6).draw_batch(1)[0])
    assert all(4 - (style == "arith") <= len(t) <= 8 - (style == "arith") for t in texts)
    assert all(set(t) <= set(data.charset.characters) for t in texts)
    # Images are not blank: the text is drawn in a contrasting colour.
    assert all(image.std() > 10 for image in images)
    gray, _ = stream(style, grayscale=True).draw_batch(1)
    assert gray.shape == (8, 32, 96, 1)


@pytest.mark.parametrize("style", [s for s in STYLES if s not in ("captcha", "arith")])
def test_an_image_is_drawn_from_its_label(style):
    # The pixels are a function of (text, seed): another text with the same
    # seed draws other pixels, the same text the same ones.
    a = render_captcha("AB12", 3, 96, 32, style=style)
    np.testing.assert_array_equal(a, render_captcha("AB12", 3, 96, 32, style=style))
    assert not np.array_equal(a, render_captcha("XY89", 3, 96, 32, style=style))


def test_the_captcha_style_is_todays_stream():
    # Pinned from the stream as it was before styles existed (commit 3dba562):
    # the default style must keep drawing the very captchas the shipped models
    # were trained and scored on (Pillow and its FreeType are pinned).
    data = SyntheticCaptchas(
        charset="alnum_upper",
        width=96,
        height=32,
        length="4-6",
        batch_size=8,
        steps=2,
        seed=5,
        family=None,
        grayscale=True,
    )
    images, texts = data.draw_batch(1)
    assert texts == ["9YDU7F", "Y4AMHO", "W6VSC", "C724Y", "5MBJCW", "2QRZDT", "3PJQKY", "C6G7A"]
    assert hashlib.sha256(images.tobytes()).hexdigest()[:16] == "fbbe3aee0e70c478"


def test_mix_draws_every_style_and_arith_only_when_the_charset_spells_it():
    assert "arith" not in mix_styles("0123456789ABC") and set(mix_styles("0123456789ABC")) == set(MIX)
    assert "arith" in mix_styles(ARITHMETIC_CHARACTERS + "ABC")
    data = stream("mix", batch_size=64)
    counts = collections.Counter(data.draw_styles(np.random.default_rng(0)))
    assert set(counts) == set(MIX)
    data = stream("mix", charset=ARITHMETIC_CHARACTERS + "AB", length="3-7", batch_size=64)
    texts, _, styles = data.plan_batch(0)
    assert data.draw_batch(0)[1] == texts
    questions = [t for t, s in zip(texts, styles) if s == "arith"]
    assert questions and all(answer(q) >= 0 for q in questions)


def test_bad_styles_are_refused_clearly():
    with pytest.raises(ValueError, match="Unknown style"):
        stream("comic")
    with pytest.raises(ValueError, match="lacks '\\+-=\\?'"):
        SyntheticCaptchas(charset="digits", style="arith")
    with pytest.raises(ValueError, match="3 to 7 characters"):
        SyntheticCaptchas(charset=ARITHMETIC_CHARACTERS, style="arith", length="8-9")
    with pytest.raises(ValueError, match="not '#'"):
        SyntheticCaptchas(charset="AB#", style="mix")
    SyntheticCaptchas(charset="AB#", style="captcha")  # the package's font has them
    assert "arith" not in mix_styles(ARITHMETIC_CHARACTERS, 8, 9)


def test_each_shipped_chinese_font_draws_the_whole_hanzi_preset():
    from captcha_keras.charset import PRESETS
    from captcha_keras.data.styles import CJK_FONTS
    from captcha_keras.data.styles import font_characters

    assert len(CJK_FONTS) >= 3 and any("kai" in path for path in CJK_FONTS)
    for path in CJK_FONTS:
        assert set(PRESETS["hanzi_alnum"]) <= font_characters(path), path


@pytest.mark.parametrize("style", ["captcha", "fonts", "clean", "noisy", "hollow", "dotted", "gif"])
def test_chinese_captchas_are_drawn_in_every_style_but_arith(style):
    data = SyntheticCaptchas(
        charset="hanzi", width=128, height=48, length="2-6", batch_size=6, steps=1, seed=3, family=None, style=style
    )
    images, texts = data.draw_batch(0)
    again, _ = SyntheticCaptchas(
        charset="hanzi", width=128, height=48, length="2-6", batch_size=6, steps=1, seed=3, family=None, style=style
    ).draw_batch(0)
    np.testing.assert_array_equal(images, again)
    assert all(2 <= len(t) <= 6 and all("\u4e00" <= c <= "\u9fff" for c in t) for t in texts)
    assert all(image.std() > 10 for image in images)


def test_a_character_no_shipped_font_holds_is_refused_never_drawn_as_an_empty_box():
    from captcha_keras.data.styles import CJK_FONTS
    from captcha_keras.data.styles import check_glyphs

    rare = "\u9f98"  # 龘: not in GB2312, nor in the subsets
    with pytest.raises(ValueError, match="No synthetic style draws '\u9f98'"):
        SyntheticCaptchas(charset="验证" + rare, style="clean", length="2")
    with pytest.raises(ValueError, match="has no glyph for"):
        check_glyphs(CJK_FONTS[0], "验" + rare)
    with pytest.raises(ValueError, match="arith draws questions of digits"):
        SyntheticCaptchas(charset="0123456789+-=?验", style="arith", length="3-7")
