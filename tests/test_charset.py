import numpy as np
import pytest

from captcha_keras.charset import PAD
from captcha_keras.charset import Charset
from captcha_keras.charset import decode_labels
from captcha_keras.charset import encode_labels
from captcha_keras.charset import parse_length


@pytest.mark.parametrize(
    "name, size, first, last",
    [
        ("digits", 10, "0", "9"),
        ("upper", 26, "A", "Z"),
        ("lower", 26, "a", "z"),
        ("alnum_upper", 36, "0", "Z"),
        ("alnum", 62, "0", "z"),
        ("hanzi", 3755, "啊", "座"),
        ("hanzi_alnum", 3817, "0", "座"),
        ("xyz", 3, "x", "z"),
    ],
)
def test_presets_and_literals(name, size, first, last):
    charset = Charset(name)
    assert len(charset) == size
    assert charset.characters[0] == first and charset.characters[-1] == last
    assert charset.blank_index == size


@pytest.mark.parametrize(
    "characters, message",
    [("", "non-empty"), ("abca", "repeated: 'a'"), (None, "preset name")],
)
def test_bad_charsets(characters, message):
    with pytest.raises(ValueError, match=message):
        Charset(characters)


@pytest.mark.parametrize(
    "text, expected",
    [("0", [0]), ("A1", [10, 1]), ("ZZ9", [35, 35, 9])],
)
def test_encode_decode_round_trip(text, expected):
    charset = Charset("alnum_upper")
    assert charset.encode(text) == expected
    assert charset.decode(expected) == text


@pytest.mark.parametrize(
    "text, named",
    [("ab", "'ab'"), ("A-1", "'-'"), ("Ä", "'Ä'"), ("A B", "' '")],
)
def test_characters_outside_the_charset_are_named(text, named):
    with pytest.raises(ValueError, match=f"outside the charset: {named}"):
        Charset("alnum_upper").encode(text)


def test_decode_skips_padding_and_blank():
    charset = Charset("digits")
    assert charset.decode([1, PAD, 10, 2]) == "12"


def test_encode_labels_pads_and_checks():
    charset = Charset("digits")
    labels = encode_labels(["12", "345", "6"], charset)
    np.testing.assert_array_equal(labels, [[1, 2, PAD], [3, 4, 5], [6, PAD, PAD]])
    assert decode_labels(labels, charset) == ["12", "345", "6"]
    with pytest.raises(ValueError, match="longer than max_length=2"):
        encode_labels(["123"], charset, max_length=2)
    with pytest.raises(ValueError, match="must not be empty"):
        encode_labels([""], charset)
    with pytest.raises(ValueError, match="outside the charset: 'x'"):
        encode_labels(["1x"], charset)


@pytest.mark.parametrize(
    "value, expected",
    [(4, (4, 4)), ("4", (4, 4)), ("4-6", (4, 6)), ((2, 3), (2, 3))],
)
def test_parse_length(value, expected):
    assert parse_length(value) == expected


@pytest.mark.parametrize("value", ["6-4", "0", "a", "1-2-3", (3, 1)])
def test_parse_length_rejects(value):
    with pytest.raises(ValueError):
        parse_length(value)


def test_the_hanzi_preset_is_gb2312_level_1_and_encodes_chinese_labels():
    hanzi = Charset("hanzi")
    # Every character is a CJK unified ideograph that GB2312 encodes in its level-1 rows (0xB0-0xD7).
    assert all("\u4e00" <= c <= "\u9fff" and 0xB0 <= c.encode("gb2312")[0] <= 0xD7 for c in hanzi.characters)
    assert hanzi.decode(hanzi.encode("验证码")) == "验证码"
    assert Charset("hanzi_alnum").characters.endswith(hanzi.characters)
    with pytest.raises(ValueError, match="outside the charset"):
        hanzi.encode("验证A")
