"""Labelling a folder: least confident first, labels.csv written atomically, a restart goes on;
accepting every reading above a confidence; "Train now" in the background, through the real server."""

import csv
import json
import os
import shutil
import time

import pytest
from helpers import ROOT
from helpers import Server

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


# ---------------------------------------------------------------- the real server: accept many, train now

# Fine-tunes as short as the trainer allows: the pipeline is the point, not the model.
TINY_FINE_TUNE = [
    "--label-train-minutes",
    "0.5",
    "--label-train-flags=--steps 1 --epochs 1 --fine-tune-epochs 0 --batch-size 16 --workers 1",
]
# How long a background training may take before the test calls it stuck: a guard against a hang,
# not a timing the test expects.
DEADLINE_S = 600


def anonymous_folder(folder, count):
    """`count` fixtures copied as capture_NNN.png; returns {copy's name: its true label}."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i, name in enumerate(sorted(os.listdir(FIXTURES))[:count]):
        shutil.copy(os.path.join(FIXTURES, name), folder / f"capture_{i:03d}.png")
        truth[f"capture_{i:03d}.png"] = os.path.splitext(name)[0]
    return truth


def label_server(tmp_path, folder, *flags):
    server = Server(None, "--model", "really_simple_captcha", "--label-dir", str(folder), *flags, log_dir=str(tmp_path))
    deadline = time.monotonic() + DEADLINE_S
    while not server.request("GET", "/label/status")[1]["read"]:
        assert time.monotonic() < deadline, server.read_log()
        time.sleep(0.1)
    return server


def post(server, path, payload):
    return server.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def wait_for_training(server):
    """Polls GET /label/train until the training is no longer running; returns its last status."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status, training = server.request("GET", "/label/train")
        assert status == 200
        if training["state"] != "running":
            return training
        assert time.monotonic() < deadline, f"still running after {DEADLINE_S} s: {training}"
        time.sleep(0.5)


def test_accept_every_reading_above_a_confidence(tmp_path):
    folder = tmp_path / "unlabelled"
    anonymous_folder(folder, 30)
    server = label_server(tmp_path, folder)
    try:
        # Too few labels to train on is refused up front, saying how many are needed.
        status, body = server.request("POST", "/label/train")
        assert status == 409 and body["error"]["needed"] == 10 and "at least 10 labels" in body["error"]["message"]
        assert server.request("GET", "/label/train")[1]["state"] == "idle"
        # One label given by hand, to a reading the threshold would accept: it must stay as it is.
        hand = server.request("GET", "/label/queue")[1]["queue"][-1]["file"]
        assert post(server, "/label", {"file": hand, "label": "ABCD"})[0] == 200
        queue = server.request("GET", "/label/queue")[1]["queue"]
        confidences = sorted(item["confidence"] for item in queue)
        # Between two confidences of the queue, so that none sits on the threshold.
        threshold = (confidences[len(confidences) // 2] + confidences[len(confidences) // 2 + 1]) / 2
        for x in (0.0, threshold, 1.0):
            status, preview = server.request("GET", f"/label/accept-preview?min_confidence={x!r}")
            chosen = [item for item in queue if item["confidence"] >= x]
            assert status == 200 and (preview["count"], preview["queued"]) == (len(chosen), len(queue))
            assert preview["expected_mistakes"] == pytest.approx(sum(1 - i["confidence"] for i in chosen), abs=1e-9)
        chosen = [item for item in queue if item["confidence"] >= threshold]
        assert 0 < len(chosen) < len(queue)
        for bad in ("abc", "1.5", "-0.1", "nan", "", "0.5&other=1"):
            status, body = server.request("GET", f"/label/accept-preview?min_confidence={bad}")
            assert status == 422 and "min_confidence" in body["error"]["message"], bad
        assert server.request("GET", "/label/accept-preview")[0] == 422
        before = (folder / "labels.csv").read_text()
        for bad in (
            {"min_confidence": "0.9"},
            {"min_confidence": 2},
            {"min_confidence": True},
            {"min_confidence": None},
            {"min_confidence": 0.9, "file": "x"},
            {},
            [0.9],
        ):
            status, body = post(server, "/label/accept", bad)
            assert status == 422 and "min_confidence" in body["error"]["message"], bad
        assert server.request("POST", "/label/accept", b"{oops", {"Content-Type": "application/json"})[0] == 422
        assert (folder / "labels.csv").read_text() == before
        status, accepted = post(server, "/label/accept", {"min_confidence": threshold})
        assert status == 200 and accepted["accepted"] == len(chosen)
        assert accepted["files"] == [item["file"] for item in chosen]
        assert accepted["expected_mistakes"] == pytest.approx(sum(1 - i["confidence"] for i in chosen), abs=1e-9)
        # One rewrite: the label given by hand first, then the accepted readings in the queue's order.
        assert csv_rows(folder / "labels.csv") == [
            ["file", "label"],
            [hand, "ABCD"],
            *[[item["file"], item["text"]] for item in chosen],
        ]
        assert not [n for n in os.listdir(folder) if n.startswith(".labels-")]
        assert accepted["status"]["labelled"] == 1 + len(chosen)
        left = server.request("GET", "/label/queue")[1]["queue"]
        assert [i["file"] for i in left] == [i["file"] for i in queue if i["confidence"] < threshold]
        status, preview = server.request("GET", f"/label/accept-preview?min_confidence={threshold!r}")
        assert (preview["count"], preview["expected_mistakes"]) == (0, 0)
    finally:
        server.stop()


def test_train_now_refuses_a_second_training_and_reports_a_failed_one(tmp_path):
    folder = tmp_path / "unlabelled"
    truth = anonymous_folder(folder, 12)
    # One label is too few for the trainer (it holds images out for validation): it exits with an error.
    server = label_server(tmp_path, folder, "--label-min-labels", "1", *TINY_FINE_TUNE)
    try:
        first = sorted(truth)[0]
        assert post(server, "/label", {"file": first, "label": truth[first]})[0] == 200
        queue = server.request("GET", "/label/queue")[1]["queue"]
        status, started = server.request("POST", "/label/train")
        assert status == 202 and started["state"] == "running" and started["labels"] == 1
        # The trainer takes seconds to import TensorFlow alone: this second request comes while it runs.
        status, body = server.request("POST", "/label/train")
        assert status == 409 and "runs already" in body["error"]["message"]
        training = wait_for_training(server)
        assert training["state"] == "failed" and training["returncode"] != 0
        assert training["log_tail"][-1].startswith("error: ") and "at least 2 images" in training["log_tail"][-1]
        assert training["model"] == "really_simple_captcha"
        # The old model goes on labelling, with the same queue.
        assert server.request("GET", "/label/status")[1]["model"] == "really_simple_captcha"
        assert server.request("GET", "/label/queue")[1]["queue"] == queue
        with open(training["log"]) as f:
            assert "at least 2 images" in f.read()
        # The runs live in a folder of their own, which the session does not take for an image.
        assert sorted(os.listdir(folder)) == sorted([*truth, "labels.csv", ".captcha_keras_runs"])
        assert server.request("GET", "/label/status")[1]["total"] == len(truth)
    finally:
        server.stop()


@pytest.mark.train
def test_train_now_fine_tunes_in_the_background_and_labels_with_the_new_model(tmp_path):
    folder = tmp_path / "unlabelled"
    truth = anonymous_folder(folder, 300)
    server = label_server(tmp_path, folder, *TINY_FINE_TUNE)
    try:
        names = sorted(truth)
        for name in names[:200]:
            assert post(server, "/label", {"file": name, "label": truth[name]})[0] == 200
        status, started = server.request("POST", "/label/train")
        assert status == 202 and started["state"] == "running" and started["labels"] == 200
        assert started["from"] == "really_simple_captcha" and started["max_minutes"] == 0.5
        status, body = server.request("POST", "/label/train")
        assert status == 409 and started["run"] in body["error"]["message"]
        # The service answers while the trainer runs.
        assert server.request("GET", "/label/queue")[0] == 200
        with open(folder / names[250], "rb") as f:
            assert server.post_files([(names[250], f.read())])[0] == 200
        training = wait_for_training(server)
        assert training["state"] == "finished", training
        run, run_dir = training["run"], training["run_dir"]
        assert training["model"] == run and training["epochs"] >= 1 and training["returncode"] == 0
        assert os.path.isfile(os.path.join(run_dir, "config.json"))
        status = server.request("GET", "/label/status")[1]
        assert (status["model"], status["labelled"], status["total"]) == (run, 200, 300)
        # The queue was read again with the new run: its confidences are the new model's.
        queue = server.request("GET", "/label/queue")[1]["queue"]
        assert sorted(i["file"] for i in queue) == names[200:]
        new = Reader(run_dir)
        readings = new.read_many([str(folder / i["file"]) for i in queue])
        assert [i["text"] for i in queue] == [r.text for r in readings]
        assert [i["confidence"] for i in queue] == pytest.approx([r.confidence for r in readings], abs=1e-5)
        # labels.csv is the labeller's alone: the training read it and left it as it was.
        assert len(csv_rows(folder / "labels.csv")) == 201
        assert sorted(os.listdir(folder)) == sorted([*truth, "labels.csv", ".captcha_keras_runs"])
    finally:
        server.stop()
