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
    assert scores == {"answer_accuracy": 0.5, "answered": 0.75}
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


def test_an_arithmetic_run_records_it_and_predict_and_the_service_give_answers(tmp_path):
    """A tiny real run on `--style arith`: its config says so, its scores count answers, predict.py
    prints an answer column and the service's JSON an answer (or why there is none) per image."""
    import re

    from helpers import Server
    from helpers import read_json
    from helpers import run_script
    from helpers import train_tiny

    charset = CHARACTERS + "x"
    flags = ["--style", "arith", "--charset", charset, "--length", "3-7", "--width", "96"]
    run, _ = train_tiny(tmp_path, "train_ctc.py", "arith", *flags)
    assert read_json(run / "config.json")["task"] == "arithmetic"
    metrics = read_json(run / "metrics.json")
    assert 0 <= metrics["answer_accuracy"] <= metrics["answered"] <= 1
    images = tmp_path / "questions"
    run_script("generate.py", "--out", images, "--count", "3", "--style", "arith", "--charset", charset, "--length",
               "3-7", "--width", "96", "--height", "32", "--stream", "test")  # fmt: skip
    lines = run_script("predict.py", "--model", run, images).stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        _, text, _, said = line.split("\t")
        assert re.fullmatch(r"answer=-?\d+|no answer: .+", said), line
        assert said == (f"answer={answer(text)}" if are_questions([text]) else said)
    server = Server(run.parent)
    try:
        status, body = server.post_files([(p.name, p.read_bytes()) for p in sorted(images.iterdir())[:1]])
    finally:
        server.stop()
    assert status == 200, body
    result = body["results"][0]
    assert "answer" in result and (result["answer"] is not None or result["answer_reason"])
