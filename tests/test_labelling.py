"""Labelling a folder: least confident first, labels.csv written atomically, a restart goes on."""

import os
import shutil

import pytest
from helpers import ROOT

from captcha_keras import Reader
from captcha_keras.data.folder import read_folder
from captcha_keras.serving.errors import ApiError
from captcha_keras.serving.labelling import LabelSession
from captcha_keras.serving.labelling import write_labels

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "really_simple_captcha", "images")
NAMES = sorted(os.listdir(FIXTURES))[:6]


@pytest.fixture(scope="module")
def reader():
    return Reader("really_simple_captcha")


@pytest.fixture()
def folder(tmp_path):
    for i, name in enumerate(NAMES):
        shutil.copy(os.path.join(FIXTURES, name), tmp_path / f"u{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("not an image extension: not listed")
    return tmp_path


def test_the_queue_puts_the_least_confident_first_and_unreadable_last(folder, reader):
    session = LabelSession(str(folder))
    session.read_all(reader)
    queue = session.queue()
    assert [item["file"] for item in queue][-1] == "broken.png" and queue[-1]["error"]
    confidences = [item["confidence"] for item in queue[:-1]]
    assert confidences == sorted(confidences) and len(confidences) == len(NAMES)
    assert {item["text"] for item in queue[:-1]} == {os.path.splitext(n)[0] for n in NAMES}


def test_labels_are_saved_atomically_in_the_folder_readers_format_and_a_restart_goes_on(folder, reader):
    session = LabelSession(str(folder))
    session.read_all(reader)
    right = os.path.splitext(NAMES[0])[0]
    status = session.save("u0.png", right)
    assert (status["labelled"], status["model_right"], status["total"]) == (1, 1, len(NAMES) + 1)
    session.save("u1.png", "ABCD")
    session.save("u0.png", right)  # a label given again replaces the row, in its place
    assert (folder / "labels.csv").read_text() == f"file,label\nu0.png,{right}\nu1.png,ABCD\n"
    assert not [n for n in os.listdir(folder) if n.startswith(".labels-")]
    again = LabelSession(str(folder))
    again.read_all(reader)
    assert again.status()["labelled"] == 2 and "u0.png" not in [i["file"] for i in again.queue()]
    # The folder reader takes the file: the labelled images, and the others reported as unlisted.
    data = read_folder(str(folder), 96, 32, 1, progress=None)
    assert sorted(data.files) == ["u0.png", "u1.png"] and sorted(data.texts) == sorted([right, "ABCD"])
    # No image was renamed, moved or deleted.
    assert sorted(os.listdir(folder)) == sorted(
        [f"u{i}.png" for i in range(len(NAMES))] + ["broken.png", "notes.txt", "labels.csv"]
    )


@pytest.mark.parametrize(
    "file, label, status",
    [
        ("u0.png", "AB1C", 400),  # '1' is not a character of the model
        ("u0.png", "", 400),
        ("u0.png", " ABC", 400),
        ("../etc/passwd", "ABCD", 404),
        ("notes.txt", "ABCD", 404),
        ("missing.png", "ABCD", 404),
    ],
)
def test_bad_labels_and_names_are_refused_and_nothing_is_written(folder, reader, file, label, status):
    session = LabelSession(str(folder))
    session.read_all(reader)
    with pytest.raises(ApiError) as error:
        session.save(file, label)
    assert error.value.status == status
    assert not (folder / "labels.csv").exists()


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "labels.csv"
    write_labels(str(path), {"a.png": "AB"})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_labels(str(path), {"a.png": "AB", "b.png": "CD"})
    assert path.read_text() == "file,label\na.png,AB\n"
    assert os.listdir(tmp_path) == ["labels.csv"]


def test_a_missing_folder_or_a_bad_labels_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        LabelSession(str(tmp_path / "missing"))
    (tmp_path / "labels.csv").write_text("file,label\na.png,AB,extra\n")
    with pytest.raises(ValueError, match="fix them first"):
        LabelSession(str(tmp_path))
