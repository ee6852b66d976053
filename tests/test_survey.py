"""captcha_keras.data.survey: what a folder holds, its bad files and labels, and the pixel digest."""

import re

import pytest
from helpers import noise
from PIL import Image

from captcha_keras.data.folder import DataError
from captcha_keras.data.survey import pixel_digest
from captcha_keras.data.survey import survey_folder


@pytest.mark.parametrize("charset, bad", [(None, "x.png: not an image"), ("ABCDEF1245", "C3.png: label 'C3'")])
def test_strict_survey_names_bad_files_and_labels_outside_the_charset(known_folder, charset, bad):
    if charset:
        survey = survey_folder(str(known_folder), charset=charset)
        assert survey.files == ["AB12.png", "AB12_1.png", "DEF45.png"]
        assert "outside the charset" in dict(survey.problems)["C3.png"]
    with pytest.raises(DataError, match=re.escape(bad)):
        survey_folder(str(known_folder), charset=charset, strict=True)


def test_survey_of_a_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        survey_folder(str(tmp_path / "missing"))
    with pytest.raises(DataError, match="holds no labelled image"):
        survey_folder(str(tmp_path))


def test_pixel_digest_tells_modes_and_sizes_apart():
    pixels = noise(1, (8, 4))
    gray = Image.fromarray(pixels)
    assert pixel_digest(gray) == pixel_digest(Image.fromarray(pixels.copy()))
    assert pixel_digest(gray) != pixel_digest(Image.fromarray(pixels.reshape(8, 4)))
    assert pixel_digest(gray) != pixel_digest(gray.convert("RGB"))
