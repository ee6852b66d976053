"""Scores of read texts (whole-sequence accuracy, character error rate), and scoring a `Reader`.

Scoring a `Reader` draws test captchas (`data.synthetic`) and reads them, so
this module sits above data and inference, and below training and the
commands (tests/test_layout.py holds the layers).
"""

import collections

import numpy as np

from captcha_keras.arithmetic import answer
from captcha_keras.arithmetic import is_question


def edit_distance(a, b):
    """Levenshtein distance between two strings (insertions, deletions, substitutions).

    Example:

    >>> edit_distance("AB12", "A812")
    1
    """
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def sequence_accuracy(truths, predictions):
    """Fraction of predictions equal to their label in full (a wrong length is wrong)."""
    _check_pairs(truths, predictions)
    return sum(t == p for t, p in zip(truths, predictions)) / len(truths)


def character_error_rate(truths, predictions):
    """Total edit distance divided by the total number of label characters."""
    _check_pairs(truths, predictions)
    total = sum(len(t) for t in truths)
    return sum(edit_distance(t, p) for t, p in zip(truths, predictions)) / max(total, 1)


def confusions(truths, predictions, top=10):
    """The most frequent `(true, predicted)` character substitutions.

    Only pairs of equal length are aligned position by position; the others
    count as length errors and are left out.
    """
    counter = collections.Counter(
        (t, p)
        for truth, pred in zip(truths, predictions)
        if len(truth) == len(pred)
        for t, p in zip(truth, pred)
        if t != p
    )
    return counter.most_common(top)


def score(truths, predictions):
    """Returns the dict of scores that runs record in `metrics.json`."""
    return {
        "samples": len(truths),
        "sequence_accuracy": sequence_accuracy(truths, predictions),
        "cer": character_error_rate(truths, predictions),
    }


def answer_scores(truths, answers):
    """The scores of an arithmetic run (`RunConfig.task`): how many answers are right.

    A reading whose text is wrong but whose answer is right (`2+9` for `3+8`)
    counts as right: the answer is what a user types. One with no answer
    (`None`: not a question) counts as wrong. A label that is no question
    has no answer to match: it is left out, and counted.

    Example:

    >>> answer_scores(["3+8=?", "12-5=", "7x6", "AB12"], [11, None, 41, None])
    {'answer_accuracy': 0.3333333333333333, 'answered': 0.6666666666666666, 'answer_samples': 3, 'not_questions': 1}
    """
    _check_pairs(truths, answers)
    pairs = [(answer(t), a) for t, a in zip(truths, answers) if is_question(t)]
    scored = max(len(pairs), 1)
    return {
        "answer_accuracy": sum(a is not None and a == truth for truth, a in pairs) / scored,
        "answered": sum(a is not None for _, a in pairs) / scored,
        "answer_samples": len(pairs),
        "not_questions": len(truths) - len(pairs),
    }


def _check_pairs(truths, predictions):
    if len(truths) != len(predictions) or not truths:
        raise ValueError(
            "Scores need as many predictions as labels, and at least one. "
            f"Received: {len(truths)} labels, {len(predictions)} predictions"
        )


def evaluate_synthetic(reader, samples, seed, workers=2, batch_size=256, style=None, allowed=None, lengths=None):
    """Scores a `Reader` on `samples` fresh test captchas drawn as its run was trained (or in `style`).

    Returns:
        `(scores, images, texts, readings)`; scores as `score`.
    """
    from captcha_keras.data.synthetic import draw_test_set

    images, texts = draw_test_set(reader.config, samples, seed, workers, style=style)
    return evaluate_arrays(reader, images, texts, batch_size, allowed, lengths)


def evaluate_arrays(reader, images, texts, batch_size=256, allowed=None, lengths=None):
    """Scores a `Reader` on model-input images with known labels (`allowed`, `lengths`: as `Reader.read`).

    Returns:
        `(scores, images, texts, readings)`; scores as `score`.
    """
    readings = []
    for start in range(0, len(images), batch_size):
        readings.extend(reader.read_arrays(images[start : start + batch_size], allowed, lengths))
    scores = score(texts, [r.text for r in readings])
    if reader.config.task == "arithmetic":
        scores.update(answer_scores(texts, [r.answer for r in readings]))
    return scores, images, texts, readings


# Bins of the reliability diagram, equal widths of confidence.
CALIBRATION_BINS = 15


def reliability(confidences, correct, bins=CALIBRATION_BINS):
    """The reliability diagram's bins and the expected calibration error.

    ECE (Naeini et al., 2015) is the gap between confidence and accuracy
    within each bin of confidence, averaged with the bins' sizes as weights.

    Returns:
        `(ece, table)`: ece a float; table a list of dicts `low`, `high`,
        `count`, `confidence` (mean), `accuracy`, for the bins holding readings.

    Example:

    >>> round(reliability([0.9, 0.9, 0.5, 0.5], [True, True, True, False], bins=2)[0], 6)
    0.05
    """
    confidences = np.asarray(confidences, dtype="float64")
    correct = np.asarray(correct, dtype=bool)
    if len(confidences) != len(correct) or not len(confidences):
        raise ValueError(
            f"Calibration needs one correctness per confidence, and at least one. Received: "
            f"{len(confidences)} confidences, {len(correct)} correctness values"
        )
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bins are (low, high]; a confidence of exactly 0 joins the first.
    index = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = index == b
        if not members.any():
            continue
        confidence, accuracy = float(confidences[members].mean()), float(correct[members].mean())
        ece += members.sum() / len(confidences) * abs(confidence - accuracy)
        table.append(
            dict(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                count=int(members.sum()),
                confidence=confidence,
                accuracy=accuracy,
            )
        )
    return float(ece), table


def precision_coverage(confidences, correct):
    """Precision against coverage when readings below a confidence threshold are refused.

    Readings are accepted from the most confident down; readings of equal
    confidence are accepted together (no threshold separates them).

    Returns:
        `(thresholds, coverage, precision)`, arrays from the highest
        threshold to the lowest: accepting every reading with confidence >=
        `thresholds[k]` keeps `coverage[k]` of them, of which `precision[k]` are right.
    """
    confidences = np.asarray(confidences, dtype="float64")
    correct = np.asarray(correct, dtype=bool)
    order = np.argsort(-confidences, kind="stable")
    sorted_confidences, sorted_correct = confidences[order], correct[order]
    # The last index of each run of equal confidences.
    ends = np.flatnonzero(np.append(sorted_confidences[1:] != sorted_confidences[:-1], True))
    right = np.cumsum(sorted_correct)[ends]
    return sorted_confidences[ends], (ends + 1) / len(confidences), right / (ends + 1)


def selective_scores(confidences, correct, coverage=0.95, precision=0.999):
    """What refusing doubtful readings buys: the figures that `metrics.json` and evaluate.py report.

    Returns:
        A dict: `ece`; `precision_at_coverage` (the precision of the most
        confident `coverage` of readings; the threshold that keeps at least
        that many) and `threshold_at_coverage`; `coverage_at_precision` (the
        most readings a threshold can keep at precision >= `precision`) and
        its threshold (None when no threshold reaches it).
    """
    ece, _ = reliability(confidences, correct)
    thresholds, covered, precise = precision_coverage(confidences, correct)
    at = int(np.searchsorted(covered, coverage - 1e-12))
    reaching = np.flatnonzero(precise >= precision)
    best = int(reaching[-1]) if len(reaching) else None
    return {
        "ece": ece,
        "coverage": coverage,
        "precision_at_coverage": float(precise[at]),
        "threshold_at_coverage": float(thresholds[at]),
        "target_precision": precision,
        "coverage_at_precision": float(covered[best]) if best is not None else 0.0,
        "threshold_at_precision": float(thresholds[best]) if best is not None else None,
    }


def confidence_outcomes(readings, truths):
    """`(confidences, correct)`: each `Reading`'s confidence, and whether its text is the truth."""
    return [r.confidence for r in readings], [r.text == t for r, t in zip(readings, truths)]


def plot_confidences(path, readings, truths, title=None):
    """Writes the reliability diagram beside the precision-coverage curve of readings (`plots.plot_calibration`)."""
    from captcha_keras.plots import plot_calibration

    confidences, correct = confidence_outcomes(readings, truths)
    _, table = reliability(confidences, correct)
    _, coverage, precision = precision_coverage(confidences, correct)
    plot_calibration(path, table, coverage, precision, title=title)
