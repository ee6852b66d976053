"""captcha_keras.data.merge and `dataset.py merge`: folders joined, clashing names renamed, labels kept."""

import filecmp
import os
import re

import pytest
from helpers import noise
from helpers import run_script
from helpers import save

from captcha_keras.data.merge import merge_folders
from captcha_keras.data.survey import survey_folder


@pytest.fixture
def sources(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    save(one, "AB12.png", noise(1))
    save(one, "AB12_1.png", noise(2))
    save(one, "CD34.png", noise(3))
    save(two, "AB12.png", noise(4))  # clashes, and so does its first new name
    save(two, "cd34.png", noise(5))  # clashes on a case-insensitive file system
    save(two, "EF56.jpg", noise(6))
    (two / "x.png").write_text("not an image")
    return one, two


def test_merge_renames_clashes_so_labels_survive(sources, tmp_path):
    one, two = sources
    out = tmp_path / "out"
    rows = merge_folders([survey_folder(str(one)), survey_folder(str(two))], str(out))
    assert [(r.taken, r.skipped, r.renamed) for r in rows] == [(3, 0, 0), (3, 1, 2)]
    assert sorted(os.listdir(out)) == ["AB12.png", "AB12_1.png", "AB12_2.png", "CD34.png", "EF56.jpg", "cd34_1.png"]
    assert filecmp.cmp(two / "AB12.png", out / "AB12_2.png", shallow=False)
    merged = survey_folder(str(out))
    assert sorted(merged.labels) == ["AB12", "AB12", "AB12", "CD34", "EF56", "cd34"]
    with pytest.raises(FileExistsError, match="already holds images"):
        merge_folders([survey_folder(str(one))], str(out))
    with pytest.raises(ValueError, match="given twice"):
        merge_folders([survey_folder(str(one))] * 2, str(tmp_path / "again"))


def test_merge_with_a_labels_file_writes_one_for_every_file(sources, tmp_path):
    one, _ = sources
    three = tmp_path / "three"
    save(three, "AB12.png", noise(7))
    (three / "labels.tsv").write_text("AB12.png\tZZ99\n")
    out = tmp_path / "out"
    merge_folders([survey_folder(str(one)), survey_folder(str(three))], str(out))
    merged = survey_folder(str(out))
    assert dict(zip(merged.files, merged.labels)) == {
        "AB12.png": "AB12",
        "AB12_1.png": "AB12",
        "CD34.png": "CD34",
        "ZZ99_1.png": "ZZ99",
    }


def test_merge_script_prints_a_summary_per_source(sources, tmp_path):
    one, two = sources
    result = run_script("dataset.py", "merge", one, two, "--out", tmp_path / "out")
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"source\s+taken\s+skipped\s+renamed", lines[0])
    assert re.fullmatch(rf"{re.escape(str(one))}\s+3\s+0\s+0", lines[1])
    assert re.fullmatch(rf"{re.escape(str(two))}\s+3\s+1\s+2", lines[2])
    assert re.fullmatch(r"total\s+6\s+1\s+2", lines[3])
    assert "skipped x.png: not an image" in result.stderr
    assert len(os.listdir(tmp_path / "out")) == 6
