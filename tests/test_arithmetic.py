"""Arithmetic captchas: the questions drawn, their answers, and a run of them answering through every reader."""

import numpy as np
import pytest
from helpers import save

from captcha_keras import Reader
from captcha_keras.arithmetic import CHARACTERS
from captcha_keras.arithmetic import answer
from captcha_keras.arithmetic import are_questions
from captcha_keras.arithmetic import random_question
from captcha_keras.evaluation import answer_scores
from captcha_keras.inference.readings import Reading
from captcha_keras.inference.readings import with_answers
from captcha_keras.runs import RunConfig


@pytest.mark.parametrize(
    "text, expected",
    [("3+8=?", 11), ("12-5=", 7), ("7x6", 42), ("3*4=", 12), (" 12 - 5 = ? ", 7), ("0+0", 0), ("5-9", -4)],
)
def test_a_question_has_its_answer(text, expected):
    assert answer(text) == expected


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "nothing was read"),
        ("3+", "Not an arithmetic question"),
        ("AB12", "Not an arithmetic question"),
        ("3+8=?9", "Not an arithmetic question"),
        ("1+2+3", "Not an arithmetic question"),
        ("3+=?", "Not an arithmetic question"),
        ("07+2=?", "leading zero"),
        (
            "\uff13+\uff18",
            "Not an arithmetic question",
        ),  # full-width digits: int() reads them, a question never shows them
        ("1234567890+1", "Not an arithmetic question"),
    ],
)
def test_a_text_that_is_no_question_has_no_answer_and_says_why(text, why):
    with pytest.raises(ValueError, match=why):
        answer(text)


def test_random_questions_fit_their_lengths_and_use_only_the_operators_given():
    rng = np.random.default_rng(1)
    plain = [random_question(rng, 3, 7) for _ in range(300)]
    assert are_questions(plain) and not any("x" in t for t in plain)
    assert {"+", "-"} <= {c for t in plain for c in t} and all(answer(t) >= 0 for t in plain)
    assert {t[-2:] == "=?" for t in plain} == {True, False} and any(t.endswith("=") for t in plain)
    times = [random_question(rng, 3, 7, "+-x") for _ in range(300)]
    products = [t for t in times if "x" in t]
    assert products and all(int(n) <= 9 for t in products for n in t.rstrip("=?").split("x"))
    assert all(5 <= len(random_question(rng, 5, 5)) <= 5 for _ in range(50))
    with pytest.raises(ValueError, match="3 to 7 characters"):
        random_question(rng, 8, 9)
    with pytest.raises(ValueError, match="operators must be"):
        random_question(rng, 3, 7, "/")
    assert not are_questions([]) and not are_questions(["3+8=?", "AB12"])


def test_each_reading_gets_an_answer_or_the_reason_it_has_none():
    readings = [Reading("3+8=?", 0.99, []), Reading("3+=?", 0.4, []), Reading(None, 0.2, [], "confidence 0.2 ...")]
    right, wrong, abstained = with_answers(readings)
    assert (right.answer, right.answer_reason) == (11, None)
    assert wrong.answer is None and "Not an arithmetic question" in wrong.answer_reason
    assert abstained.answer is None and abstained.answer_reason.startswith("no text was read")
    assert right.to_dict()["answer"] == 11 and "answer_reason" not in right.to_dict()
    assert wrong.to_dict()["answer"] is None and wrong.to_dict()["answer_reason"] == wrong.answer_reason
    assert "answer" not in readings[0].to_dict()  # a text run's readings say nothing of answers


def test_answer_scores_count_a_right_answer_to_a_misread_question_as_right():
    scores = answer_scores(["3+8=?", "3+8=?", "12-5=", "2x3"], [11, 11, None, 5])
    assert scores == {"answer_accuracy": 0.5, "answered": 0.75, "answer_samples": 4, "not_questions": 0}
    # A test label that is no question has no answer to match: left out and counted, not a crash.
    assert answer_scores(["3+8=?", "AB12"], [11, None])["not_questions"] == 1
    with pytest.raises(ValueError):
        answer_scores([], [])


def test_a_reader_of_an_arithmetic_run_answers_what_it_reads():
    # Frames spell 3 + 8 = ? with blanks between; the same outputs in a text run give no answer.
    charset = CHARACTERS
    spelled = [charset.index(c) for c in "3+8=?"]
    blank = len(charset)
    frames = [i for c in spelled for i in (c, blank)]
    probs = np.full((1, len(frames), len(charset) + 1), 1e-4, "float32")
    probs[0, np.arange(len(frames)), frames] = 1.0
    probs /= probs.sum(-1, keepdims=True)
    config = RunConfig("crnn_ctc_fast", "ctc", charset, 10, 2, 3, 7, 1, task="arithmetic")
    images = np.zeros((1, 2, 10, 1), "uint8")
    reading = Reader.from_runtime(config, lambda batch: probs).read_arrays(images)[0]
    assert (reading.text, reading.answer) == ("3+8=?", 11)
    # Told the last character may only be a digit, it reads 3+8=0: no question, so no answer.
    masked = Reader.from_runtime(config, lambda batch: probs).read_arrays(images, allowed="0123456789+=")[0]
    assert masked.text == "3+8=0" and masked.answer is None and "Not an arithmetic question" in masked.answer_reason
    text_run = RunConfig("crnn_ctc_fast", "ctc", charset, 10, 2, 3, 7, 1)
    assert Reader.from_runtime(text_run, lambda batch: probs).read_arrays(images)[0].answer is None
    assert Reader.from_runtime(config, lambda batch: probs).info()["task"] == "arithmetic"


def test_an_arithmetic_run_from_before_tasks_were_recorded_still_answers(tmp_path):
    import json

    (tmp_path / "config.json").write_text(
        json.dumps({"arch": "crnn_ctc_fast", "family": "ctc", "charset": CHARACTERS, "style": "arith"})
    )
    assert RunConfig.load(tmp_path).task == "arithmetic"
    (tmp_path / "config.json").write_text(json.dumps({"arch": "a", "family": "ctc", "charset": "AB"}))
    assert RunConfig.load(tmp_path).task == "text"


def test_a_folder_of_questions_makes_an_arithmetic_run_and_a_folder_of_words_a_text_run(tmp_path):
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.inputs import resolve_inputs

    pixels = np.random.default_rng(0).integers(0, 256, (32, 96), dtype="uint8")
    for i, name in enumerate(["3+8=", "12-5", "7x6=", "4+4", "9-1=", "2x2"] * 2):
        save(tmp_path / "questions", f"{name}_{i}.png", pixels)
        save(tmp_path / "words", f"AB{i % 10}C_{i}.png", pixels)
    for folder, task in (("questions", "arithmetic"), ("words", "text")):
        config = TrainConfig(family="ctc", data=str(tmp_path / folder), init_from="none", val_split=0.25)
        resolve_inputs(config)
        assert config.task == task and config.run_config().task == task
    synthetic = TrainConfig(family="ctc", style="arith", charset=CHARACTERS + "x", length="3-7")
    resolve_inputs(synthetic)
    assert synthetic.run_config().task == "arithmetic"


def test_the_shipped_arithmetic_model_answers_through_predict_and_the_service(tmp_path, capsys):
    """saved_models/arithmetic (trained by `train_ctc.py --style arith`, which recorded the task): predict.py
    prints an answer column and the service's JSON an answer per image, the same ones, right where the text is."""
    import os
    import re

    from helpers import SHIPPED
    from helpers import Server
    from helpers import read_json

    from captcha_keras.cli.predict import main as predict
    from captcha_keras.data.generate import generate_folder

    run = os.path.join(SHIPPED, "arithmetic")
    config = read_json(os.path.join(run, "config.json"))
    assert config["task"] == "arithmetic" and set(CHARACTERS + "x") <= set(config["charset"])
    images = tmp_path / "questions"
    generate_folder(str(images), 6, charset=config["charset"], width=config["width"], height=config["height"],
                    length="3-7", seed=2026, stream="test", style="arith", workers=1, progress=False)  # fmt: skip
    capsys.readouterr()
    assert predict(["--model", run, str(images)]) == 0
    lines = sorted(capsys.readouterr().out.splitlines())
    assert len(lines) == 6
    said = {}
    for line in lines:
        path, text, _, column = line.split("\t")
        assert re.fullmatch(r"answer=-?\d+|no answer: .+", column), line
        assert column == (f"answer={answer(text)}" if are_questions([text]) else column)
        said[os.path.basename(path)] = None if column.startswith("no answer") else int(column.split("=")[1])
    # The file names hold the true questions. These six are fixed (seed 2026, never trained on), so this is
    # no sample that varies between runs: the shipped model answers at least five (its rate: metrics.json).
    right = [said[name] == answer(name.rsplit("_", 1)[0]) for name in said]
    assert sum(right) >= 5, said
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(run, models / "arithmetic")
    server = Server(models)
    try:
        status, body = server.post_files([(name, (images / name).read_bytes()) for name in sorted(said)])
    finally:
        server.stop()
    assert status == 200, body
    assert {r["file"]: r["answer"] for r in body["results"]} == said
    assert all(r["answer"] is not None or r["answer_reason"] for r in body["results"])
