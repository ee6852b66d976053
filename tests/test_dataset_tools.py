"""generate.py and dataset.py: synthetic folders, stats, split, dedupe and merge, with bad files about."""

import filecmp
import json
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from captcha_keras.data.dedupe import copy_unique
from captcha_keras.data.dedupe import delete_duplicates
from captcha_keras.data.dedupe import find_duplicates
from captcha_keras.data.folder import DataError
from captcha_keras.data.folder import split_indices
from captcha_keras.data.generate import generate_folder
from captcha_keras.data.labels import label_from_name
from captcha_keras.data.merge import merge_folders
from captcha_keras.data.partition import split_folder
from captcha_keras.data.partition import split_parts
from captcha_keras.data.stats import folder_stats
from captcha_keras.data.stats import format_stats
from captcha_keras.data.survey import pixel_digest
from captcha_keras.data.survey import survey_folder
from conftest import run_script

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "really_simple_captcha", "images")


def noise(seed, size=(72, 24), mode="L"):
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype="uint8")


def save(folder, name, pixels, **options):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(pixels).save(os.path.join(folder, name), **options)


def snapshot(folder):
    """Every file under `folder` with its bytes, to show a tool left it alone."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


# ---------------------------------------------------------------- generate


def generate(out, **kwargs):
    settings = dict(count=40, charset="digits", width=64, height=32, length="3-5", seed=5, grayscale=True,
                    workers=2, batch_size=8, progress=False)
    settings.update(kwargs)
    return generate_folder(str(out), **settings)


def test_generate_writes_labelled_images_of_the_requested_shape(tmp_path):
    result = generate(tmp_path / "a")
    names = sorted(os.listdir(tmp_path / "a"))
    assert result.count == 40 and len(names) == 40 and result.rate > 0
    assert sorted(int(re.fullmatch(r"\d+_(\d\d)\.png", n).group(1)) for n in names) == list(range(40))
    for name in names:
        label = label_from_name(name)
        assert 3 <= len(label) <= 5 and label.isdigit(), name
    with Image.open(tmp_path / "a" / names[0]) as image:
        assert image.size == (64, 32) and image.mode == "L"
    assert re.fullmatch(r"wrote 40 captchas to .* in [\d.]+ s \([\d,]+ images/s\)", result.summary())


def test_generate_is_a_function_of_the_seed_not_of_the_workers(tmp_path):
    generate(tmp_path / "a")
    generate(tmp_path / "b", workers=1)
    generate(tmp_path / "c", seed=6)
    a, b, c = (snapshot(tmp_path / name) for name in "abc")
    assert a == b
    assert set(a) != set(c)


def test_generate_refuses_a_folder_with_images_unless_forced(tmp_path):
    generate(tmp_path, count=3)
    with pytest.raises(FileExistsError, match="already holds 3 images"):
        generate(tmp_path, count=3)
    generate(tmp_path, count=3, force=True)
    assert len(os.listdir(tmp_path)) == 3


@pytest.mark.parametrize("kwargs", [dict(count=0), dict(charset="AB/"), dict(charset="A B"), dict(length="0-2")])
def test_generate_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate(tmp_path, **kwargs)
    assert not os.listdir(tmp_path)


def test_generate_script_writes_what_the_function_writes(tmp_path):
    args = dict(count=12, charset="digits", width=64, height=32, length=4, seed=3, grayscale=False)
    generate_folder(str(tmp_path / "function"), workers=1, progress=False, **args)
    result = run_script("generate.py", "--out", tmp_path / "script", "--count", 12, "--charset", "digits",
                        "--width", 64, "--height", 32, "--seed", 3, "--workers", 2)
    assert re.search(r"wrote 12 captchas to .*script in [\d.]+ s", result.stdout)
    assert snapshot(tmp_path / "script") == snapshot(tmp_path / "function")
    with Image.open(next((tmp_path / "script").iterdir())) as image:
        assert image.mode == "RGB"


# ---------------------------------------------------------------- stats


@pytest.fixture
def known_folder(tmp_path):
    """Four good images of known labels, sizes and modes, and one file that is not an image."""
    folder = tmp_path / "known"
    save(folder, "AB12.png", noise(1))
    save(folder, "AB12_1.png", noise(2))
    save(folder, "C3.png", noise(3, (40, 20), "RGB"))
    save(folder, "DEF45.png", noise(4))
    (folder / "x.png").write_text("not an image")
    return folder


def test_stats_of_a_known_folder(known_folder):
    stats = folder_stats(survey_folder(str(known_folder)))
    assert stats["images"] == 4 and stats["unique_labels"] == 3 and stats["labels_file"] is None
    assert stats["skipped"] == [{"file": "x.png", "reason": "not an image Pillow can read."}]
    assert stats["label_lengths"] == {2: 1, 4: 2, 5: 1}
    assert stats["characters"] == {"1": 2, "2": 2, "3": 1, "4": 1, "5": 1, "A": 2, "B": 2, "C": 1, "D": 1, "E": 1,
                                   "F": 1}
    assert list(stats["characters"]) == sorted(stats["characters"])
    assert stats["sizes"] == {"72x24": 3, "40x20": 1} and stats["modes"] == {"L": 3, "RGB": 1}
    text = format_stats(stats)
    assert "labelled images: 4 (3 distinct labels)" in text and "x.png" in text


def test_stats_script_prints_tables_and_writes_json(tmp_path):
    out = tmp_path / "stats.json"
    result = run_script("dataset.py", "stats", FIXTURE, "--json", out)
    stats = json.loads(out.read_text())
    assert stats["images"] == 300 and stats["skipped"] == [] and stats["label_lengths"] == {"4": 300}
    assert stats["charset"] == "23456789ABCDEFGHJKLMNPQRSTUVWXYZ" and sum(stats["characters"].values()) == 1200
    assert stats["sizes"] == {"72x24": 300} and stats["modes"] == {"L": 300}
    assert "labelled images: 300" in result.stdout
    assert re.search(r"^72x24\s+300\s+100\.0%$", result.stdout, re.MULTILINE)


def test_strict_script_exits_2_and_names_the_bad_file(known_folder):
    result = run_script("dataset.py", "stats", known_folder, "--strict", check=False)
    assert result.returncode == 2
    assert "error: --strict: 1 bad file(s)" in result.stderr and "x.png: not an image" in result.stderr
    assert "Traceback" not in result.stderr


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


# ---------------------------------------------------------------- split


@pytest.fixture(scope="module")
def fixture_survey():
    return survey_folder(FIXTURE)


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_split_is_seeded_disjoint_complete_and_leaves_the_source_alone(tmp_path, fixture_survey):
    before = snapshot(FIXTURE)
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
        assert filecmp.cmp(os.path.join(FIXTURE, files[0]), tmp_path / "a" / name / files[0], shallow=False)
    assert snapshot(FIXTURE) == before


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
    result = run_script("dataset.py", "split", known_folder, "--out", tmp_path / "out", "--fractions", "0.5",
                        "0.5", "--names", "one", "two", "--seed", 4)
    assert re.search(r"^one\s+2\s+50\.0%", result.stdout, re.MULTILINE)
    assert re.search(r"^two\s+2\s+50\.0%", result.stdout, re.MULTILINE)
    assert "skipped x.png: not an image" in result.stderr
    listed = read_lines(tmp_path / "out" / "one.txt") + read_lines(tmp_path / "out" / "two.txt")
    assert sorted(listed) == ["AB12.png", "AB12_1.png", "C3.png", "DEF45.png"]
    assert snapshot(known_folder) == before


# ---------------------------------------------------------------- dedupe


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
    assert [g.files for g in groups] == [["AB12.png", "AB12_1.png", "AB12_2.bmp", "CD34.png"],
                                         ["GH78.png", "GH78_1.png"]]
    assert [g.conflict for g in groups] == [True, False]
    assert groups[0].keep == ["AB12.png", "CD34.png"] and groups[0].extra == ["AB12_1.png", "AB12_2.bmp"]
    assert groups[1].extra == ["GH78_1.png"]


def test_pixel_digest_tells_modes_and_sizes_apart():
    pixels = noise(1, (8, 4))
    gray = Image.fromarray(pixels)
    assert pixel_digest(gray) == pixel_digest(Image.fromarray(pixels.copy()))
    assert pixel_digest(gray) != pixel_digest(Image.fromarray(pixels.reshape(8, 4)))
    assert pixel_digest(gray) != pixel_digest(gray.convert("RGB"))


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
    text = "file,label\r\na.png,AB12\r\nb.png,AB12\r\n\"c.png\",CD34\r\ngone.png,EF56\r\n"
    (folder / "labels.csv").write_bytes(text.encode())
    survey = survey_folder(str(folder))
    assert delete_duplicates(survey, find_duplicates(survey)) == ["b.png"]
    assert (folder / "labels.csv").read_bytes() == text.replace("b.png,AB12\r\n", "").encode()


# ---------------------------------------------------------------- merge


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
        "AB12.png": "AB12", "AB12_1.png": "AB12", "CD34.png": "CD34", "ZZ99_1.png": "ZZ99"}


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
