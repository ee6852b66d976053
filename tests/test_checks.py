"""The export checks' paired test of a quantized model: lost and gained captchas, what a sample can detect."""

import math
from fractions import Fraction

import pytest

from captcha_keras.export.checks import ExportCheckError
from captcha_keras.export.checks import binomial_tail
from captcha_keras.export.checks import compare_accuracy
from captcha_keras.export.checks import describe_sensitivity
from captcha_keras.export.checks import detectable_drop
from captcha_keras.export.checks import drop_p_value
from captcha_keras.export.checks import samples_to_detect


def readings(lost, gained, samples, both_right=0):
    """Labels and two models' texts of `samples` images: `lost` read right by the SavedModel only, `gained` by the
    quantized model only, `both_right` by both, the rest by neither (as the same wrong text)."""
    truths = [f"{i:04d}" for i in range(samples)]
    saved = [t if i < lost or lost + gained <= i < lost + gained + both_right else "?" for i, t in enumerate(truths)]
    quantized = [t if lost <= i < lost + gained + both_right else "?" for i, t in enumerate(truths)]
    return truths, saved, quantized


@pytest.mark.parametrize(
    "lost, gained, samples, accepted",
    [
        (0, 0, 60, True),  # the same texts
        (1, 0, 60, True),  # the issue: the SavedModel read 2 of 60 right, int8 1 (p = 0.59)
        (2, 1, 60, True),
        (10, 0, 60, True),  # p = 0.00117: 10 losses of 60 are still not beyond doubt at 0.1%
        (11, 0, 60, False),  # p = 0.00058: the smallest drop 60 captchas detect, 18.3 points
        (12, 0, 500, True),  # p = 0.001003, just above the 0.1% that refuses
        (13, 0, 500, False),  # p = 0.00050: 500 captchas detect a drop of 2.6 points
        (30, 10, 500, True),  # 4 points lower, but 40 discordant captchas leave room for chance (p = 0.0024)
        (35, 5, 500, False),
        (40, 5, 500, False),  # a clear drop: 98% -> 91% on 500 captchas
        (20, 0, 4000, True),  # 0.5 points lower: above the tolerance, but not beyond doubt (p = 0.012)
        (30, 0, 4000, False),  # 0.75 points lower (p = 0.00002)
        (30, 0, 10000, True),  # exactly the 0.3 points allowed
        (60, 30, 10000, True),
    ],
)
def test_a_quantized_model_is_refused_only_for_a_drop_beyond_the_tolerance(lost, gained, samples, accepted):
    truths, saved, quantized = readings(lost, gained, samples, both_right=samples // 2)
    if accepted:
        figures = compare_accuracy(truths, saved, quantized, "The litert-int8 model")
        assert (figures["lost"], figures["gained"], figures["samples"]) == (lost, gained, samples)
        assert figures["p_value"] >= 0.001
    else:
        with pytest.raises(
            ExportCheckError,
            match=f"it lost {lost} captchas the SavedModel read right and gained {gained} it read wrong",
        ):
            compare_accuracy(truths, saved, quantized, "The litert-int8 model")


def test_the_issues_case_is_accepted_with_every_figure():
    # The SavedModel read 2 of 60 captchas right, the int8 model 1: one captcha lost.
    truths, saved, quantized = readings(1, 0, 60, both_right=1)
    figures = compare_accuracy(truths, saved, quantized, "The litert-int8 model")
    assert figures == {
        "samples": 60,
        "accuracy": 1 / 60,
        "savedmodel_accuracy": 2 / 60,
        "differences": 1,
        "lost": 1,
        "gained": 0,
        "p_value": pytest.approx(0.59),
        "tolerance": 0.003,
        "false_refusal_rate": 0.001,
        "detectable_drop": 11 / 60,
        "samples_to_detect": 4167,
    }
    assert describe_sensitivity(figures) == (
        "60 captchas can only detect a drop of 18.3 points or more; 4,167 would "
        "detect 0.6 (twice the 0.3 allowed; --check-samples 4167)"
    )


def test_a_refusal_says_what_was_lost_and_gained_and_how_to_tighten_the_check():
    truths, saved, quantized = readings(40, 5, 500, both_right=450)
    with pytest.raises(ExportCheckError) as refused:
        compare_accuracy(truths, saved, quantized, "The litert-int8 model")
    assert str(refused.value) == (
        "The litert-int8 model read 91.00% of 500 captchas right, the SavedModel 98.00%: it lost 40 captchas the "
        "SavedModel read right and gained 5 it read wrong, 7.00 points lower. A model only 0.3 points worse would "
        "lose that many with a chance of 1.2e-07 (the check refuses below 0.001). 500 captchas can only detect a "
        "drop of 2.6 points or more; 4,167 would detect 0.6 (twice the 0.3 allowed; --check-samples 4167). "
        "Nothing was replaced."
    )


def test_the_tolerance_and_the_false_refusal_rate_are_arguments():
    truths, saved, quantized = readings(13, 0, 500)
    with pytest.raises(ExportCheckError):
        compare_accuracy(truths, saved, quantized, "The litert-int8 model")
    assert compare_accuracy(truths, saved, quantized, "The litert-int8 model", false_refusal_rate=0.0001)["lost"] == 13
    assert compare_accuracy(truths, saved, quantized, "The litert-int8 model", tolerance=0.03)["p_value"] == 1.0


def test_no_captchas_is_an_error():
    with pytest.raises(ValueError, match="No captchas to compare"):
        compare_accuracy([], [], [], "The litert-int8 model")


@pytest.mark.parametrize(
    "successes, trials, probability",
    [
        (0, 5, 0.3),
        (3, 5, 0.3),
        (5, 5, 0.3),
        (6, 5, 0.3),
        (1, 1, 0.5),
        (7, 20, 0.59),
        (2, 3, 0.0),
        (2, 3, 1.0),
    ],
)
def test_binomial_tail_is_the_exact_sum(successes, trials, probability):
    p = Fraction(probability)
    exact = sum(math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(max(successes, 0), trials + 1))
    assert binomial_tail(successes, trials, probability) == pytest.approx(float(exact), rel=1e-12, abs=1e-300)


def test_binomial_tail_holds_on_thousands_of_trials():
    # C(4000, 2000) and 2 ** -4000 are each beyond a float's range; their product is not.
    middle = float(Fraction(math.comb(4000, 2000), 2**4000))
    assert binomial_tail(2000, 4000, 0.5) == pytest.approx(0.5 + middle / 2, rel=1e-9)
    assert 0 < binomial_tail(3000, 4000, 0.5) < 1e-200


def test_with_a_tolerance_of_zero_the_p_value_is_mcnemars_exact_test():
    # One-sided sign test on the discordant pairs: P(Binomial(12, 1/2) >= 10).
    assert drop_p_value(10, 2, 500, tolerance=0) == pytest.approx((66 + 12 + 1) / 2**12)


@pytest.mark.parametrize(
    "samples, drop",
    [
        (5, None),  # even 5 losses of 5 could be chance
        (10, None),
        (11, 1.0),
        (60, 11 / 60),
        (500, 13 / 500),
        (4000, 25 / 4000),
        (4167, 25 / 4167),
    ],
)
def test_detectable_drop(samples, drop):
    assert detectable_drop(samples) == drop


def test_samples_to_detect_is_the_fewest_on_which_the_drop_is_detectable():
    for tolerance, drop in ((0.003, 0.006), (0.003, 0.01), (0.01, 0.05), (0, 0.01)):
        needed = samples_to_detect(drop, tolerance)
        assert detectable_drop(needed, tolerance) <= drop < detectable_drop(needed - 1, tolerance)
    assert samples_to_detect(0.003) is None and samples_to_detect(0.001) is None


def test_the_sensitivity_says_nothing_more_once_the_sample_is_large_enough():
    truths, saved, quantized = readings(0, 0, 5000)
    figures = compare_accuracy(truths, saved, quantized, "The litert-int8 model")
    assert describe_sensitivity(figures) == "5,000 captchas can detect a drop of 0.6 points or more"
    truths, saved, quantized = readings(0, 0, 5)
    figures = compare_accuracy(truths, saved, quantized, "The litert-int8 model")
    assert describe_sensitivity(figures) == (
        "5 captchas are too few to detect any drop; 4,167 would detect 0.6 "
        "(twice the 0.3 allowed; --check-samples 4167)"
    )
