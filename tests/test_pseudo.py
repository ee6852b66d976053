"""Learning from unlabelled captchas: which folders are refused, which readings become pseudo-labels, the rounds."""

import csv
import os
import shutil

import numpy as np
import pytest
from helpers import RSC_IMAGES
from helpers import read_json
from helpers import run_script

from captcha_keras import Reader
from captcha_keras.data.folder import DataError
from captcha_keras.data.labels import label_from_name
from captcha_keras.training.pseudo import Selection
from captcha_keras.training.pseudo import check_precision
from captcha_keras.training.pseudo import check_unlabelled
from captcha_keras.training.pseudo import read_unlabelled
from captcha_keras.training.pseudo import select_pseudo_labels

FILES = sorted(os.listdir(RSC_IMAGES))


def copy(files, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copyfile(os.path.join(RSC_IMAGES, name), folder / name)
    return folder


@pytest.fixture()
def folders(tmp_path):
    """Labelled 20, unlabelled 60 (renamed: no label in their names), test 20, all of the fixture images."""
    labelled = copy(FILES[:20], tmp_path / "labelled")
    test = copy(FILES[20:40], tmp_path / "test")
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for i, name in enumerate(FILES[40:100]):
        shutil.copyfile(os.path.join(RSC_IMAGES, name), unlabelled / f"img{i:03d}.png")
    return labelled, unlabelled, test


def test_an_unlabelled_folder_apart_from_the_labelled_ones_is_accepted(folders):
    labelled, unlabelled, test = folders
    check_unlabelled(str(unlabelled), {"--data": str(labelled), "--test-data": str(test)})


@pytest.mark.parametrize("which", ["--data", "--test-data"])
def test_the_labelled_or_test_folder_itself_is_refused(folders, which):
    labelled, _, test = folders
    folder = labelled if which == "--data" else test
    with pytest.raises(DataError, match=f"is {which}"):
        check_unlabelled(str(folder), {"--data": str(labelled), "--test-data": str(test)})
    (folder / "inner").mkdir()
    with pytest.raises(DataError, match="nested"):
        check_unlabelled(str(folder / "inner"), {"--data": str(labelled), "--test-data": str(test)})


def test_an_unlabelled_folder_holding_a_test_image_is_refused_and_named(folders):
    labelled, unlabelled, test = folders
    shutil.copyfile(test / FILES[25], unlabelled / "copy.png")
    with pytest.raises(DataError, match=r"1 image\(s\) also in .* copy.png .*--test-data"):
        check_unlabelled(str(unlabelled), {"--data": str(labelled), "--test-data": str(test)})


def test_a_missing_unlabelled_folder_is_a_clear_error(folders, tmp_path):
    labelled, _, _ = folders
    with pytest.raises(FileNotFoundError, match="no such folder"):
        check_unlabelled(str(tmp_path / "nowhere"), {"--data": str(labelled)})


def test_unreadable_unlabelled_files_are_reported_and_skipped(folders, capsys):
    _, unlabelled, _ = folders
    (unlabelled / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (unlabelled / "empty.jpg").write_bytes(b"")
    reader = Reader("really_simple_captcha")
    files, images = read_unlabelled(str(unlabelled), reader.config, workers=1)
    assert len(files) == 60 and "broken.png" not in files and images.shape[0] == 60
    out = capsys.readouterr().out
    assert "2 unreadable file(s) skipped" in out and "broken.png" in out


def test_an_unlabelled_folder_with_no_readable_image_is_refused(tmp_path):
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "a.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="no readable image"):
        read_unlabelled(str(tmp_path / "u"), Reader("really_simple_captcha").config, workers=1)


def test_a_pseudo_label_is_confident_stable_and_of_a_possible_length():
    reader = Reader("really_simple_captcha")
    files, images = read_unlabelled(RSC_IMAGES, reader.config, workers=1)
    truths = [label_from_name(f) for f in files]
    selection = select_pseudo_labels(reader, images, threshold=0.99, stable=True, seed=0)
    assert selection.keep.sum() > 0
    for i in np.flatnonzero(selection.keep):
        assert selection.confidences[i] >= 0.99 and selection.stable[i] and len(selection.texts[i]) == 4
    for i in np.flatnonzero(~selection.keep):
        assert selection.confidences[i] < 0.99 or not selection.stable[i]
    # The same rule without stability keeps a superset; a stricter threshold a subset.
    loose = select_pseudo_labels(reader, images, threshold=0.99, stable=False, seed=0)
    strict = select_pseudo_labels(reader, images, threshold=0.999, stable=True, seed=0)
    assert np.all(loose.keep[selection.keep]) and np.all(selection.keep[strict.keep])
    check = check_precision(selection, truths)
    assert check["kept"] == selection.keep.sum()
    assert check["right"] == sum(selection.texts[i] == truths[i] for i in np.flatnonzero(selection.keep))


def test_check_precision_counts_the_kept_readings_that_are_right():
    selection = Selection(["AB", "CD", "EF"], np.array([0.99, 0.999, 0.5]), np.ones(3, bool), np.array([1, 1, 0], bool))
    assert check_precision(selection, ["AB", "CX", "EF"]) == {"images": 3, "kept": 2, "right": 1, "precision": 0.5}
    nothing = Selection(["AB"], np.array([0.1]), np.ones(1, bool), np.zeros(1, bool))
    assert check_precision(nothing, ["AB"])["precision"] is None


@pytest.mark.train
def test_a_run_with_unlabelled_images_trains_rounds_and_records_them(folders, tmp_path, capsys):
    """Round 0 is the default folder command (from base_alnum at 192x64, which reads these after one
    step: with no labels it reads 99.5% of the set restricted to its characters); round 1 trains on
    its pseudo-labels; a resume trains nothing again."""
    from captcha_keras.cli.train import main_ctc

    labelled, unlabelled, test = folders
    common = [
        "--data", labelled, "--unlabelled", unlabelled, "--test-data", test,
        "--charset", "23456789ABCDEFGHJKLMNPQRSTUVWXYZ", "--val-split", "0.25",
        "--rounds", "1", "--pseudo-threshold", "0.5", "--workers", "1",
        "--run-name", "semi", "--output-dir", tmp_path / "m", "--logs-dir", tmp_path / "l",
    ]  # fmt: skip
    tiny = ["--steps", "1", "--batch-size", "8", "--epochs", "1", "--fine-tune-epochs", "0", "--verbose", "2"]
    result = run_script("train_ctc.py", *common, *tiny)
    assert "Starting from" in result.stdout and "the shipped base model" in result.stdout
    assert "Input 192x64" in result.stdout and "show 25 distinct characters" in result.stdout
    run = tmp_path / "m" / "semi"
    round0 = read_json(run / "rounds" / "round0" / "metrics.json")
    assert round0["samples"] == 20 and round0["sequence_accuracy"] >= 0.8, round0
    rounds = read_json(run / "metrics.json")["pseudo_labels"]["rounds"]
    assert [(r["round"], r["trained"]) for r in rounds] == [(0, True), (1, True)]
    assert "Pseudo-labels for round 1: kept" in result.stdout
    with open(run / "pseudo_labels.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == rounds[1]["kept"] > 0 and rounds[1]["unlabelled"] == 60
    assert {row["file"] for row in rows} <= set(os.listdir(unlabelled))
    assert all(float(row["confidence"]) >= 0.5 and row["round"] == "1" for row in rows)
    assert rounds[1]["check"]["images"] == 5
    config = read_json(run / "config.json")
    assert config == read_json(run / "rounds" / "round1" / "config.json")
    assert (config["arch"], config["width"], config["height"]) == ("crnn_ctc_fast_wide", 192, 64)
    assert all(r["scored_on"] == "test" and 0 <= r["accuracy"] <= 1 for r in rounds)
    # A resume of a finished run trains nothing again and publishes the same run.
    assert main_ctc([str(a) for a in common] + ["--resume"]) == 0
    out = capsys.readouterr().out
    assert "round 0 is done" in out and "round 1 is done" in out and "Epoch" not in out
    assert read_json(run / "metrics.json")["pseudo_labels"]["rounds"][1]["kept"] == rounds[1]["kept"]
    # The run folder is the last round's, readable as any run; the user's folders are untouched.
    assert Reader(str(run)).read(str(test / FILES[20])).text is not None
    assert sorted(os.listdir(unlabelled)) == [f"img{i:03d}.png" for i in range(60)]
    assert sorted(os.listdir(labelled)) == FILES[:20]


def test_an_unlabelled_run_resumes_from_the_start_its_first_round_recorded(tmp_path):
    from captcha_keras.training.config import TrainConfig

    state = tmp_path / "m" / "semi" / "rounds" / "round0" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"recipe": {"init_from": "/somewhere/base_alnum"}}')
    config = TrainConfig(
        data=RSC_IMAGES, unlabelled=str(tmp_path), run_name="semi", output_dir=str(tmp_path / "m"), resume=True
    )
    assert config.init_from == "/somewhere/base_alnum"


def test_an_empty_unlabelled_folder_is_refused_before_anything_trains(folders, tmp_path):
    labelled, _, test = folders
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    shutil.copyfile(os.path.join(RSC_IMAGES, FILES[200]), empty / "sub" / "a.png")
    with pytest.raises(DataError, match="subfolders are not searched"):
        check_unlabelled(str(empty), {"--data": str(labelled), "--test-data": str(test)})
    result = run_script(
        "train_ctc.py",
        "--data",
        labelled,
        "--unlabelled",
        empty,
        "--output-dir",
        tmp_path / "m",
        "--logs-dir",
        tmp_path / "l",
        "--run-name",
        "x",
        check=False,
    )
    assert result.returncode != 0 and "holds no image file" in result.stderr
    assert not (tmp_path / "m" / "x").exists()
