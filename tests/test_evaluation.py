import pytest

from captcha_keras.evaluation import character_error_rate
from captcha_keras.evaluation import confusions
from captcha_keras.evaluation import edit_distance
from captcha_keras.evaluation import sequence_accuracy


@pytest.mark.parametrize(
    "a, b, distance",
    [
        ("", "", 0),
        ("AB12", "AB12", 0),
        ("AB12", "A812", 1),
        ("AB12", "AB1", 1),
        ("AB12", "XAB12", 1),
        ("ABCD", "DCBA", 4),
        ("", "ABC", 3),
    ],
)
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance


def test_sequence_accuracy_counts_wrong_length_as_wrong():
    assert sequence_accuracy(["AB12", "CD34", "EF56", "GH78"], ["AB12", "CD3", "EF56", "GH788"]) == 0.5


def test_character_error_rate():
    # 1 substitution + 1 deletion over 8 label characters.
    assert character_error_rate(["AB12", "CD34"], ["A812", "CD3"]) == pytest.approx(2 / 8)


def test_scores_reject_mismatched_lists():
    with pytest.raises(ValueError, match="as many predictions"):
        sequence_accuracy(["A"], [])


def test_confusions_counts_substitutions():
    assert confusions(["O0", "O1", "AB"], ["00", "01", "ABC"]) == [(("O", "0"), 2)]
