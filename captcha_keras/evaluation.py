"""Scores of predicted texts: whole-sequence accuracy and character error rate."""

import collections


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


def _check_pairs(truths, predictions):
    if len(truths) != len(predictions) or not truths:
        raise ValueError(
            "Scores need as many predictions as labels, and at least one. "
            f"Received: {len(truths)} labels, {len(predictions)} predictions"
        )
