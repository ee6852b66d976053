"""Scores of read texts (whole-sequence accuracy, character error rate), and scoring a `Reader`.

Scoring a `Reader` draws test captchas (`data.synthetic`) and reads them, so
this module sits above data and inference, and below training and the
commands (tests/test_layout.py holds the layers).
"""

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
    return score(texts, [r.text for r in readings]), images, texts, readings
