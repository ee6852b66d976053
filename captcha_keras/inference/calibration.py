"""Calibrated confidence: one temperature that makes a reading's confidence the chance it is right.

A network trained on cross-entropy or CTC is rarely calibrated: on real
captchas a run's confidences were spread from 0.11 to 0.98 over its errors
while most right readings sat below 0.9. Temperature scaling (Guo et al.,
"On Calibration of Modern Neural Networks", 2017) divides every output's
log-probabilities by one number `T` before the softmax: `T > 1` softens the
distributions, `T < 1` sharpens them. Each frame (or head) keeps its ranking,
so greedy and length-constrained texts never change; only confidences do
(beam search, which compares sums over frames, may rank two texts otherwise).

A run fits `T` on its validation images at the end of training
(`fit_temperature`; not below `MIN_IMAGES` of them) and stores it in
`config.json` (`RunConfig.temperature`);
`Reader` applies it to the outputs of every format (`apply_temperature`), and
the SavedModel's reading signature applies it in the graph, so a confidence
means the same everywhere.

What is fitted: the binary cross-entropy between each validation reading's
confidence (the probability of its whole text) and whether it is right,
which asks exactly "confidence = chance of being right", against Platt's
targets (`calibration_loss`) rather than 1 and 0. Those matter because real
validation sets are often read perfectly: with no error to see, targets of
1 would push `T` to 0 (every reading certain); Platt's ask for the
confidence that n right readings out of n support. benchmarks/calibration.py
compares this with the classic objective (the likelihood of the true text)
and with no calibration, on held-out images.
"""

import numpy as np

from captcha_keras.inference.decoding import decode_outputs
from captcha_keras.inference.decoding import head_list
from captcha_keras.inference.decoding import log_probabilities

# Fewest validation images a temperature is fitted on. Below, a run keeps T = 1: with no error
# among 10 validation images, Platt's targets would claim no more than 11/12 = 92% for any
# reading (and the classic fit, certainty), which says more of the sample's size than of the model.
MIN_IMAGES = 200
# Temperatures the fit considers: 0.2 to 10, geometric.
TEMPERATURES = np.geomspace(0.2, 10.0, 81)
OBJECTIVES = ("correctness", "likelihood")


def scale_probabilities(probs, temperature):
    """`softmax(log(probs) / temperature)` over the last axis, float32.

    Log-probabilities are taken as every reader takes them
    (`decoding.log_probabilities`): an exact zero (a masked character) stays
    zero. `temperature == 1` returns the probabilities unchanged.

    Example:

    >>> scale_probabilities(np.array([0.8, 0.2]), 2.0).round(3).tolist()
    [0.667, 0.333]
    """
    probs = np.asarray(probs, dtype="float32")
    if temperature == 1.0:
        return probs
    if not temperature > 0:
        raise ValueError(f"A temperature must be positive. Received: temperature={temperature}")
    logits = log_probabilities(probs).astype("float64") / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits) * (probs > 0)
    return (weights / weights.sum(axis=-1, keepdims=True)).astype("float32")


def apply_temperature(outputs, family, temperature):
    """A model's raw outputs with every distribution scaled by `temperature` (`scale_probabilities`).

    Args:
        outputs: CTC probabilities `(n, time_steps, classes)`, or a
            multi-head dict `{"c1": ...}` or list of head arrays.
        family: str. `"ctc"` or `"multihead"`.
        temperature: float.
    """
    if temperature == 1.0:
        return outputs
    if family == "ctc":
        return scale_probabilities(outputs, temperature)
    if isinstance(outputs, dict):
        return {name: scale_probabilities(head, temperature) for name, head in outputs.items()}
    return [scale_probabilities(head, temperature) for head in outputs]


def batch_text_log_probability(log_probs, labels, blank_index):
    """`log P(labels[i] | log_probs[i])` over every CTC alignment, for a whole batch at once.

    The vectorised form of `readings.ctc_text_probability` (which reads one
    image), for fitting over thousands of images and dozens of temperatures.

    Args:
        log_probs: float array `(n, time_steps, classes)`.
        labels: list of n lists of label indices.
        blank_index: int.

    Returns:
        float64 array `(n,)`; -inf where no path of `time_steps` frames spells the labels.
    """
    log_probs = np.asarray(log_probs, dtype="float64")
    n, time_steps, _ = log_probs.shape
    longest = max((len(label) for label in labels), default=0)
    count = 2 * longest + 1
    states = np.full((n, count), blank_index)
    for i, label in enumerate(labels):
        states[i, 1 : 2 * len(label) : 2] = label
    lengths = np.array([2 * len(label) + 1 for label in labels])
    skip = np.zeros((n, count), dtype=bool)
    skip[:, 2:] = (states[:, 2:] != blank_index) & (states[:, 2:] != states[:, :-2])
    emit = np.take_along_axis(log_probs, np.broadcast_to(states[:, None, :], (n, time_steps, count)), axis=2)
    alpha = np.full((n, count), -np.inf)
    alpha[:, 0] = emit[:, 0, 0]
    if count > 1:
        alpha[:, 1] = np.where(lengths > 1, emit[:, 0, 1], -np.inf)
    edge = -np.inf * np.ones((n, 1))
    for t in range(1, time_steps):
        step = np.concatenate([edge, alpha[:, :-1]], axis=1)
        jump = np.where(skip, np.concatenate([edge, edge, alpha[:, :-2]], axis=1), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + emit[:, t]
    rows = np.arange(n)
    last = alpha[rows, lengths - 1]
    before = np.where(lengths > 1, alpha[rows, np.maximum(lengths - 2, 0)], -np.inf)
    return np.logaddexp(last, before)


def text_confidences(outputs, family, charset, texts, temperature):
    """The probability of each given text under outputs scaled by `temperature`.

    CTC: the text's probability over all alignments. Multi-head: the
    product of each head's probability of the character at its position
    ("no character" past the text's end), which is how a true label of a
    fixed-length model is scored; a reading's own confidence is
    `reading_confidences`.
    """
    if family == "ctc":
        log_probs = log_probabilities(apply_temperature(outputs, family, temperature))
        labels = [[charset.characters.index(c) for c in text] for text in texts]
        return np.exp(batch_text_log_probability(log_probs, labels, charset.blank_index))
    heads = [np.asarray(h, dtype="float64") for h in head_list(apply_temperature(outputs, family, temperature))]
    result = np.ones(len(texts))
    for position, head in enumerate(heads):
        index = [charset.characters.index(t[position]) if position < len(t) else len(charset) for t in texts]
        # A text with a character outside the heads' classes has probability 0.
        index = [i if i < head.shape[-1] else None for i in index]
        result *= [head[row, i] if i is not None else 0.0 for row, i in enumerate(index)]
    return result


def reading_confidences(outputs, family, charset, texts, temperature):
    """The confidence a reader gives each reading `texts` (as decoded) under `temperature`.

    CTC: the text's probability over all alignments (`text_confidences`);
    multi-head: the product of each scaled head's largest probability, as
    `decoding.decode_multihead` scores it (a "no character" head in the
    middle shifts the text, so positions cannot be matched back).
    """
    if family == "ctc":
        return text_confidences(outputs, family, charset, texts, temperature)
    heads = head_list(apply_temperature(outputs, family, temperature))
    return np.prod([np.asarray(h, dtype="float64").max(axis=-1) for h in heads], axis=0)


def calibration_loss(confidences, correct):
    """Summed binary cross-entropy of confidences against Platt's targets for correctness.

    Platt (1999) fits against `(right + 1) / (right + 2)` for a right reading
    and `1 / (wrong + 2)` for a wrong one rather than 1 and 0: Laplace's rule
    of succession, which keeps a perfect validation set from claiming
    certainty (its readings aim at 797/798 on 796 images, not at 1).
    """
    p = np.clip(np.asarray(confidences, dtype="float64"), 1e-12, 1 - 1e-12)
    correct = np.asarray(correct, dtype=bool)
    right, wrong = int(correct.sum()), int((~correct).sum())
    target = np.where(correct, (right + 1) / (right + 2), 1 / (wrong + 2))
    return float(-(target * np.log(p) + (1 - target) * np.log1p(-p)).sum())


def fit_temperature(outputs, family, charset, truths, lengths=None, objective="correctness"):
    """The temperature that calibrates these outputs' readings against their true texts.

    Args:
        outputs: the model's raw outputs on validation images (as `Reader.forward` gives them).
        family: str. `"ctc"` or `"multihead"`.
        charset: `Charset`.
        truths: list of str. The true texts.
        lengths: `(min, max)` or None. The run's label lengths, as readers decode.
        objective: str. `"correctness"` (the default, see the module's
            docstring) or `"likelihood"`: the classic temperature scaling,
            the negative log-likelihood of the true texts.

    Returns:
        A dict: `temperature`, `objective`, `samples`, `errors` (readings of
        the validation images that are wrong).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown calibration objective. Expected one of {OBJECTIVES}. Received: {objective!r}")
    truths = list(truths)
    if not truths:
        raise ValueError("Calibration needs at least one labelled image.")
    # Texts do not depend on the temperature: decoded once.
    texts = [text for text, _ in decode_outputs(outputs, family, charset, lengths=lengths)]
    correct = np.array([t == p for t, p in zip(truths, texts)])
    known = [all(c in charset.characters for c in t) for t in truths]
    losses = []
    for temperature in TEMPERATURES:
        if objective == "correctness":
            confidences = reading_confidences(outputs, family, charset, texts, temperature)
            losses.append(calibration_loss(confidences, correct))
        else:
            kept = [t for t, k in zip(truths, known) if k]
            rows = np.flatnonzero(known)
            subset = outputs[rows] if family == "ctc" else [np.asarray(h)[rows] for h in head_list(outputs)]
            likelihood = text_confidences(subset, family, charset, kept, temperature)
            losses.append(float(-np.log(np.clip(likelihood, 1e-300, None)).sum()))
    best = float(TEMPERATURES[int(np.argmin(losses))])
    return {
        "temperature": round(best, 4),
        "fitted": True,
        "objective": objective,
        "samples": len(truths),
        "errors": int((~correct).sum()),
    }
