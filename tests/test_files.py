"""captcha_keras.data.files: how the dataset tools write folders: links or copies, labels.csv, and refusals."""

import csv
import os

import pytest
from helpers import noise
from helpers import save

from captcha_keras.data.files import place
from captcha_keras.data.files import require_empty
from captcha_keras.data.files import write_labels_csv


def test_place_links_when_asked_and_copies_otherwise(tmp_path):
    save(tmp_path / "source", "a.png", noise(1))
    source = tmp_path / "source" / "a.png"
    assert place(str(source), str(tmp_path / "linked" / "deeper" / "a.png"), link=True) is True
    assert os.stat(tmp_path / "linked" / "deeper" / "a.png").st_ino == os.stat(source).st_ino
    assert place(str(source), str(tmp_path / "copied" / "a.png"), link=False) is False
    copy = tmp_path / "copied" / "a.png"
    assert os.stat(copy).st_ino != os.stat(source).st_ino and copy.read_bytes() == source.read_bytes()


def test_place_copies_where_a_link_cannot_be_made(tmp_path, monkeypatch):
    save(tmp_path, "a.png", noise(1))

    def refuse(source, target):
        raise OSError("Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    assert place(str(tmp_path / "a.png"), str(tmp_path / "out" / "a.png"), link=True) is False
    assert (tmp_path / "out" / "a.png").read_bytes() == (tmp_path / "a.png").read_bytes()


def test_labels_csv_has_a_header_and_quotes_what_needs_it(tmp_path):
    path = tmp_path / "labels.csv"
    write_labels_csv(path, ["a.png", "b,c.png", "d.png"], ["AB12", 'x"y', "é"])
    assert path.read_bytes().decode("utf-8") == 'file,label\na.png,AB12\n"b,c.png","x""y"\nd.png,é\n'
    with open(path, newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [["file", "label"], ["a.png", "AB12"], ["b,c.png", 'x"y'], ["d.png", "é"]]


def test_an_output_folder_must_be_new_or_empty_and_not_a_source(tmp_path):
    source = tmp_path / "source"
    save(source, "a.png", noise(1))
    require_empty(str(tmp_path / "new"), str(source))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    require_empty(str(tmp_path / "empty"), str(source))
    with pytest.raises(ValueError, match="--out must be another folder than the source"):
        require_empty(str(tmp_path / "." / "source"), str(tmp_path / "other"), str(source))
    with pytest.raises(FileExistsError, match="already holds images or a labels file"):
        require_empty(str(source))
    (tmp_path / "labelled").mkdir()
    (tmp_path / "labelled" / "labels.csv").write_text("file,label\n")
    with pytest.raises(FileExistsError, match="already holds images or a labels file"):
        require_empty(str(tmp_path / "labelled"))
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        require_empty(str(tmp_path / "file"))
