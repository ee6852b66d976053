"""captcha_keras.data.partition and `dataset.py split`: seeded, disjoint parts, linked or copied."""

import filecmp
import os
import re

import pytest
from helpers import RSC_IMAGES
from helpers import noise
from helpers import run_script
from helpers import save
from helpers import snapshot

from captcha_keras.data.folder import split_indices
from captcha_keras.data.partition import split_folder
from captcha_keras.data.partition import split_parts
from captcha_keras.data.survey import survey_folder


@pytest.fixture(scope="module")
def fixture_survey():
    return survey_folder(RSC_IMAGES)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_split_is_seeded_disjoint_complete_and_leaves_the_source_alone(tmp_path, fixture_survey):
    before = snapshot(RSC_IMAGES)
    # Copies, not links: a temporary file must never share an inode with the repository's fixture.
    a = split_folder(fixture_survey, str(tmp_path / "a"), seed=1, link=False)
    b = split_folder(fixture_survey, str(tmp_path / "b"), seed=1, link=False)
    c = split_folder(fixture_survey, str(tmp_path / "c"), seed=2, link=False)
    assert a == b and a["test"] != c["test"]
    assert len(a["train"]) == 240 and len(a["test"]) == 60
    assert not set(a["train"]) & set(a["test"])
    assert sorted(a["train"] + a["test"]) == sorted(fixture_survey.files)
    # The test part is the held-out set of a training run with --val-split 0.2 --seed 1.
    held = split_indices(300, 0.2, seed=1)[1]
    assert a["test"] == [fixture_survey.files[i] for i in held]
    for name, files in a.items():
        assert sorted(os.listdir(tmp_path / "a" / name)) == sorted(files)
        assert read_lines(tmp_path / "a" / f"{name}.txt") == files
        assert filecmp.cmp(os.path.join(RSC_IMAGES, files[0]), tmp_path / "a" / name / files[0], shallow=False)
    assert snapshot(RSC_IMAGES) == before


def test_split_hard_links_and_writes_labels_csv_per_part(tmp_path):
    source = tmp_path / "source"
    for i in range(10):
        save(source, f"img{i}.png", noise(i))
    (source / "labels.csv").write_text("file,label\n" + "".join(f"img{i}.png,L{i}\n" for i in range(10)))
    survey = survey_folder(str(source))
    parts = split_folder(survey, str(tmp_path / "out"), (0.5, 0.3, 0.2), ("a", "b", "c"), seed=0)
    assert [len(parts[n]) for n in "abc"] == [5, 3, 2]
    for name, files in parts.items():
        part = survey_folder(str(tmp_path / "out" / name))
        assert part.files == files and part.labels == [f"L{f[3]}" for f in files]
        assert os.stat(source / files[0]).st_ino == os.stat(tmp_path / "out" / name / files[0]).st_ino
    copies = split_folder(survey, str(tmp_path / "copies"), (0.5, 0.5), ("a", "b"), seed=0, link=False)
    file = copies["a"][0]
    assert os.stat(source / file).st_ino != os.stat(tmp_path / "copies" / "a" / file).st_ino


def test_split_refuses_bad_parts_and_an_existing_output(tmp_path, fixture_survey):
    with pytest.raises(ValueError, match="sum to 1"):
        split_parts(10, (0.8, 0.3), seed=0)
    with pytest.raises(ValueError, match="positive"):
        split_parts(10, (1.0, 0.0), seed=0)
    with pytest.raises(ValueError, match="one distinct name per fraction"):
        split_folder(fixture_survey, str(tmp_path), (0.5, 0.5), ("a", "a"))
    with pytest.raises(ValueError, match="plain folder name"):
        split_folder(fixture_survey, str(tmp_path), (0.5, 0.5), ("a", "../b"))
    (tmp_path / "train.txt").write_text("")
    with pytest.raises(FileExistsError, match="already exists"):
        split_folder(fixture_survey, str(tmp_path))


def test_split_parts_gives_every_part_something_when_it_can():
    assert [len(p) for p in split_parts(3, (0.98, 0.01, 0.01), seed=0)] == [1, 1, 1]
    parts = split_parts(7, (0.6, 0.4), seed=9)
    assert sorted(parts[0] + parts[1]) == list(range(7)) and len(parts[1]) == 3


def test_split_script_prints_counts_and_skips_bad_files(tmp_path, known_folder):
    before = snapshot(known_folder)
    result = run_script(
        "dataset.py",
        "split",
        known_folder,
        "--out",
        tmp_path / "out",
        "--fractions",
        "0.5",
        "0.5",
        "--names",
        "one",
        "two",
        "--seed",
        4,
    )
    assert re.search(r"^one\s+2\s+50\.0%", result.stdout, re.MULTILINE)
    assert re.search(r"^two\s+2\s+50\.0%", result.stdout, re.MULTILINE)
    assert "skipped x.png: not an image" in result.stderr
    listed = read_lines(tmp_path / "out" / "one.txt") + read_lines(tmp_path / "out" / "two.txt")
    assert sorted(listed) == ["AB12.png", "AB12_1.png", "C3.png", "DEF45.png"]
    assert snapshot(known_folder) == before
