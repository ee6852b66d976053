"""captcha_keras.data.dedupe and `dataset.py dedupe`: the same pixels found, copies removed, labels kept."""

import os
import shutil

import pytest
from helpers import noise
from helpers import run_script
from helpers import save
from helpers import snapshot

from captcha_keras.data.dedupe import copy_unique
from captcha_keras.data.dedupe import delete_duplicates
from captcha_keras.data.dedupe import find_duplicates
from captcha_keras.data.survey import survey_folder


@pytest.fixture
def duplicates(tmp_path):
    """One pixel group written four ways (one with another label), an exact copy pair, and a loner."""
    folder = tmp_path / "dups"
    same = noise(1)
    save(folder, "AB12.png", same)
    save(folder, "AB12_1.png", same, compress_level=0)  # re-encoded: other bytes, same pixels
    save(folder, "AB12_2.bmp", same)
    save(folder, "CD34.png", same)  # same pixels, another label: a conflict
    save(folder, "GH78.png", noise(2))
    shutil.copy(folder / "GH78.png", folder / "GH78_1.png")
    save(folder, "EF56.png", noise(3))
    (folder / "junk.png").write_bytes(b"\x89PNG\r\n")
    return folder


def test_find_duplicates_matches_pixels_not_bytes(duplicates):
    assert (duplicates / "AB12.png").read_bytes() != (duplicates / "AB12_1.png").read_bytes()
    groups = find_duplicates(survey_folder(str(duplicates)))
    assert [g.files for g in groups] == [
        ["AB12.png", "AB12_1.png", "AB12_2.bmp", "CD34.png"],
        ["GH78.png", "GH78_1.png"],
    ]
    assert [g.conflict for g in groups] == [True, False]
    assert groups[0].keep == ["AB12.png", "CD34.png"] and groups[0].extra == ["AB12_1.png", "AB12_2.bmp"]
    assert groups[1].extra == ["GH78_1.png"]


def test_dedupe_script_reports_and_changes_nothing(duplicates):
    before = snapshot(duplicates)
    result = run_script("dataset.py", "dedupe", duplicates)
    assert "7 images, 2 duplicate groups, 3 removable copies, 1 label conflicts" in result.stdout
    assert "CONFLICT AB12.png (AB12), AB12_1.png (AB12), AB12_2.bmp (AB12), CD34.png (CD34)" in result.stdout
    assert "nothing changed" in result.stdout and "skipped junk.png" in result.stderr
    assert snapshot(duplicates) == before


def test_dedupe_copies_or_deletes_only_the_copies(duplicates, tmp_path):
    survey = survey_folder(str(duplicates))
    groups = find_duplicates(survey)
    kept = copy_unique(survey, groups, str(tmp_path / "unique"))
    assert kept == ["AB12.png", "CD34.png", "EF56.png", "GH78.png"]
    assert sorted(os.listdir(tmp_path / "unique")) == kept
    assert delete_duplicates(survey, groups) == ["AB12_1.png", "AB12_2.bmp", "GH78_1.png"]
    assert sorted(os.listdir(duplicates)) == ["AB12.png", "CD34.png", "EF56.png", "GH78.png", "junk.png"]


def test_deleting_duplicates_drops_their_labels_file_rows_only(tmp_path):
    folder = tmp_path / "labelled"
    save(folder, "a.png", noise(1))
    save(folder, "b.png", noise(1))
    save(folder, "c.png", noise(2))
    text = 'file,label\r\na.png,AB12\r\nb.png,AB12\r\n"c.png",CD34\r\ngone.png,EF56\r\n'
    (folder / "labels.csv").write_bytes(text.encode())
    survey = survey_folder(str(folder))
    assert delete_duplicates(survey, find_duplicates(survey)) == ["b.png"]
    assert (folder / "labels.csv").read_bytes() == text.replace("b.png,AB12\r\n", "").encode()
