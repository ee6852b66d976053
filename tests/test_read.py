"""`captcha-keras read`: the one command a person reads captchas with (captcha_keras/cli/read.py)."""

import json
import os

import pytest
from helpers import RSC_IMAGES

from captcha_keras import Reader
from captcha_keras.cli.read import main

FILES = [os.path.join(RSC_IMAGES, name) for name in sorted(os.listdir(RSC_IMAGES))[:4]]


@pytest.fixture(scope="module")
def expected():
    """What the Reader reads of the files with the model the command reads them with."""
    return Reader("really_simple_captcha", format="onnx").read_many(FILES)


def test_lines_are_path_text_confidence(capsys, expected):
    assert main([*FILES, "--model", "really_simple_captcha"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [(p, t) for p, t, _ in lines] == [(f, r.text) for f, r in zip(FILES, expected)]
    assert [float(c) for *_, c in lines] == [pytest.approx(r.confidence, abs=5e-5) for r in expected]


def test_json_abstains_below_the_minimum_confidence(capsys, expected):
    unsure = min(range(len(FILES)), key=lambda i: expected[i].confidence)
    threshold = (expected[unsure].confidence + 1.0) / 2
    assert main([*FILES, "--model", "really_simple_captcha", "--json", "--min-confidence", f"{threshold:.9f}"]) == 0
    readings = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in readings] == FILES
    for reading, truth in zip(readings, expected):
        abstained = truth.confidence < float(f"{threshold:.9f}")
        assert reading["abstained"] == abstained
        assert reading["text"] == (None if abstained else truth.text)
        assert (reading["reason"] is not None) == abstained
    assert readings[unsure]["abstained"]


def test_allowed_restricts_the_reading(capsys):
    assert main([FILES[0], "--model", "really_simple_captcha", "--allowed", "23456789"]) == 0
    text = capsys.readouterr().out.split("\t")[1]
    assert text and set(text) <= set("23456789")


def test_an_unreadable_file_is_an_error_line_and_the_others_are_read(capsys, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main([str(bad), FILES[0], "--model", "really_simple_captcha"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("ERROR\t") and "bad.png" in err
    assert out.startswith(FILES[0] + "\t")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--allowed", "abc"], "cannot read"),
        (["--min-confidence", "1.5"], "--min-confidence must be within 0-1"),
        (["--model", "nope"], "Shipped models:"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_flags_are_one_clear_error(capsys, flags, message):
    with pytest.raises(SystemExit) as exit:
        main([FILES[0], *flags])
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_an_empty_folder_says_there_is_nothing_to_read(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        main([str(tmp_path)])
    assert exit.value.code == 2 and "No images to read in" in capsys.readouterr().err
