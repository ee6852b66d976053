import itertools

import numpy as np
import pytest

from captcha_keras.charset import Charset
from captcha_keras.inference.decoding import best_path_within
from captcha_keras.inference.decoding import decode_ctc
from captcha_keras.inference.decoding import decode_multihead

CHARSET = Charset("ab")  # a=0, b=1, blank=2


def frames(*rows):
    """Probabilities of one sample, one row per time step."""
    return np.array([rows], dtype="float32")


@pytest.mark.parametrize(
    "probs, text, confidence",
    [
        # a, blank, b -> "ab"; the best path's probability is 0.9 * 1 * 0.8.
        (frames([0.9, 0.0, 0.1], [0, 0, 1], [0.1, 0.8, 0.1]), "ab", 0.72),
        # a, a -> merged into one "a".
        (frames([1, 0, 0], [1, 0, 0]), "a", 1.0),
        # a, blank, a -> two "a"s: the blank separates repeats.
        (frames([1, 0, 0], [0, 0, 1], [1, 0, 0]), "aa", 1.0),
        # all blanks -> empty text.
        (frames([0, 0, 1], [0, 0, 1]), "", 1.0),
    ],
)
def test_greedy(probs, text, confidence):
    [(decoded, score)] = decode_ctc(probs, CHARSET)
    assert decoded == text
    assert score == pytest.approx(confidence, abs=1e-5)


def test_beam_search_sums_paths_greedy_does_not():
    # Greedy takes blank at every step (0.4 * 0.4) = "" with 0.16, but "a" has
    # total probability 1 - P("") - ... : paths a-, -a, aa give 0.3*0.4*2+0.3*0.3... > 0.16.
    probs = frames([0.3, 0.3, 0.4], [0.3, 0.3, 0.4])
    [(greedy, _)] = decode_ctc(probs, CHARSET, "greedy")
    [(beam, score)] = decode_ctc(probs, CHARSET, "beam_search", beam_width=10)
    assert greedy == ""
    assert beam in ("a", "b")
    # P("a") = a- + -a + aa = 0.12 + 0.12 + 0.09.
    assert score == pytest.approx(0.33, abs=1e-4)


def test_batch_and_shape_checks():
    probs = np.concatenate([frames([1, 0, 0], [0, 0, 1]), frames([0, 1, 0], [0, 1, 0])])
    assert [t for t, _ in decode_ctc(probs, CHARSET)] == ["a", "b"]
    with pytest.raises(ValueError, match=r"\(batch, time_steps, 3\)"):
        decode_ctc(np.zeros((1, 4, 5)), CHARSET)
    with pytest.raises(ValueError, match="Unknown decoding strategy"):
        decode_ctc(probs, CHARSET, "nope")


def test_lengths_redecode_a_merged_repeat_within_range():
    # Greedy reads a, a, a as one "a"; a 2-character captcha's best path
    # with two labels is a, blank, a (0.9 * 0.4 * 0.9).
    probs = frames([0.9, 0.0, 0.1], [0.6, 0.0, 0.4], [0.9, 0.0, 0.1])
    [(greedy, _)] = decode_ctc(probs, CHARSET)
    [(text, confidence)] = decode_ctc(probs, CHARSET, lengths=(2, 2))
    assert greedy == "a"
    assert text == "aa" and confidence == pytest.approx(0.324, abs=1e-5)
    # Beam search keeps to the range too.
    [(beam, _)] = decode_ctc(probs, CHARSET, "beam_search", lengths=(2, 2))
    assert beam == "aa"


def test_lengths_leave_texts_in_range_alone():
    probs = np.concatenate(
        [frames([0.9, 0.1, 0.0], [0.0, 0.2, 0.8], [0.1, 0.9, 0.0]), frames([0.0, 0.6, 0.4], [0.0, 0.6, 0.4], [0, 0, 1])]
    )
    assert decode_ctc(probs, CHARSET, lengths=(1, 2)) == decode_ctc(probs, CHARSET)
    # Too long for (1, 1): the one-label path b, b, b beats "ab" dropped to
    # "a" (a, a, a has probability 0 in the second frame).
    [first, _] = decode_ctc(probs, CHARSET, lengths=(1, 1))
    assert first[0] == "b" and first[1] == pytest.approx(0.1 * 0.2 * 0.9, abs=1e-5)


def test_lengths_that_no_path_reaches_give_an_empty_text():
    [(text, confidence)] = decode_ctc(frames([0.5, 0.5, 0.0]), CHARSET, lengths=(2, 2))
    assert text == "" and confidence == 0.0
    with pytest.raises(ValueError, match="min_length <= max_length"):
        best_path_within(np.zeros((1, 2, 3)), 3, 2, blank_index=2)


def _exhaustive_best(log_probs, low, high, blank):
    best = (-np.inf, None)
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        labels = [p for i, p in enumerate(path) if p != blank and (i == 0 or path[i - 1] != p)]
        if low <= len(labels) <= high:
            total = sum(log_probs[t, p] for t, p in enumerate(path))
            best = max(best, (total, labels), key=lambda b: b[0])
    return best


def test_best_path_within_matches_exhaustive_search():
    rng = np.random.default_rng(3)
    for _ in range(60):
        time_steps, symbols = rng.integers(1, 6), rng.integers(2, 4)
        low = int(rng.integers(0, 3))
        high = low + int(rng.integers(0, 2))
        blank = int(rng.integers(0, symbols))
        log_probs = np.log(rng.dirichlet(np.ones(symbols), size=time_steps))
        [(labels, total)] = best_path_within(log_probs[None], low, high, blank)
        expected_total, expected_labels = _exhaustive_best(log_probs, low, high, blank)
        assert total == pytest.approx(expected_total)
        # Random probabilities leave no ties; no allowed path gives [].
        assert labels == (expected_labels or [])


def test_multihead_decoding_and_no_character_class():
    heads = [np.array([[0.1, 0.9, 0.0]]), np.array([[0.8, 0.2, 0.0]]), np.array([[0.0, 0.5, 0.5]])]
    # argmax of the last head is the first of the tie (b=1): "bab".
    [(text, confidence)] = decode_multihead(heads, CHARSET)
    assert text == "bab" and confidence == pytest.approx(0.9 * 0.8 * 0.5)
    heads[2] = np.array([[0.0, 0.1, 0.9]])  # "no character" wins the third head.
    [(text, confidence)] = decode_multihead(heads, CHARSET)
    assert text == "ba" and confidence == pytest.approx(0.9 * 0.8 * 0.9)
