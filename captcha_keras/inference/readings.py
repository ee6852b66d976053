"""What a reading is: the text, its confidence, and each character's confidence and alternatives.

Pure functions on a model's output probabilities, whichever the family:

- `mask_outputs` restricts the characters a reading may use (`allowed`) by
  zeroing the others in the output and renormalising, before any decoding;
- `read_outputs` decodes the texts (`decoding.decode_outputs`: greedy or
  beam search, within the run's lengths) and adds per-character details: for CTC, each
  character's frames come from a forced alignment of the decoded text
  (`align_ctc`); for a multi-head model, each head is a position.

A CTC reading's confidence is the probability of its text, summed over every
alignment that spells it (`ctc_text_probability`, the CTC forward pass), not
the probability of the single best path that `decode_ctc` scores (and that
predict.py printed before the inference package): a model sure of every
character still spreads some mass between a character and the blanks beside
it, so the best path alone read 50-80% on captchas it read right and was
sure of.
"""

import dataclasses
import numbers

import numpy as np

from captcha_keras.arithmetic import answer
from captcha_keras.inference.decoding import decode_outputs
from captcha_keras.inference.decoding import head_list
from captcha_keras.inference.decoding import log_probabilities

# Alternatives listed per character.
TOP_ALTERNATIVES = 3


@dataclasses.dataclass
class CharacterReading:
    """One character of a reading.

    Attributes:
        char: str. The character read.
        confidence: float. Its probability where the model is surest of it
            (CTC: its best frame; multi-head: its head).
        alternatives: list of `(char, probability)`. The next most likely
            characters at that place, most likely first.
    """

    char: str
    confidence: float
    alternatives: list

    def to_dict(self):
        return {
            "char": self.char,
            "confidence": round(self.confidence, 6),
            "alternatives": [{"char": c, "confidence": round(p, 6)} for c, p in self.alternatives],
        }


@dataclasses.dataclass
class Reading:
    """A read captcha.

    Attributes:
        text: str, or None when the reader abstained (`min_confidence`).
        confidence: float. The probability of the whole text: CTC, summed
            over its alignments; multi-head, the product of its heads'; both
            calibrated by the run's temperature (`calibration`). An
            abstention keeps the confidence of the text it withheld.
        characters: list of `CharacterReading`, one per character of `text`
            (none for an abstention).
        reason: str or None. Why the reader abstained.
        answer: int or None. For a run of arithmetic questions
            (`RunConfig.task`), the answer to the question read
            (`with_answers`); None otherwise.
        answer_reason: str or None. For a run of arithmetic questions, why
            a reading has no answer (not a question, or no text).
    """

    text: str
    confidence: float
    characters: list
    reason: str = None
    answer: int = None
    answer_reason: str = None

    @property
    def abstained(self):
        """Whether the reader withheld the text (its confidence was below `min_confidence`)."""
        return self.text is None

    def to_dict(self):
        result = {
            "text": self.text,
            "confidence": round(self.confidence, 6),
            "characters": [c.to_dict() for c in self.characters],
        }
        if self.abstained:
            result.update(abstained=True, reason=self.reason)
        if self.answer is not None or self.answer_reason is not None:
            result["answer"] = self.answer
            if self.answer is None:
                result["answer_reason"] = self.answer_reason
        return result


def check_min_confidence(min_confidence):
    """Raises `ValueError` unless `min_confidence` is None or a number from 0 to 1."""
    if min_confidence is None:
        return
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, numbers.Real) or not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must be a number from 0 to 1. Received: min_confidence={min_confidence!r}")


def abstain_below(readings, min_confidence):
    """The readings, with those less confident than `min_confidence` withheld (`Reading.abstained`).

    Example:

    >>> abstain_below([Reading("7K2D", 0.62, [])], 0.9)[0].reason
    'confidence 0.62 is below min_confidence 0.9'
    """
    if min_confidence is None:
        return readings
    return [
        r
        if r.confidence >= min_confidence
        else Reading(
            None, r.confidence, [], f"confidence {r.confidence:.4g} is below min_confidence {min_confidence:g}"
        )
        for r in readings
    ]


def with_answers(readings):
    """The readings of an arithmetic run, each with its `answer`, or the reason it has none.

    A text that is not a question (a misread operator, a digit too many) gets
    no answer: a wrong answer would look like a right one.

    Example:

    >>> [r.answer for r in with_answers([Reading("3+8=?", 0.99, []), Reading("3+=?", 0.4, [])])]
    [11, None]
    """
    answered = []
    for r in readings:
        if r.abstained:
            answered.append(dataclasses.replace(r, answer=None, answer_reason=f"no text was read: {r.reason}"))
            continue
        try:
            answered.append(dataclasses.replace(r, answer=answer(r.text), answer_reason=None))
        except ValueError as error:
            answered.append(dataclasses.replace(r, answer=None, answer_reason=str(error)))
    return answered


def allowed_indices(allowed, charset):
    """The output indices of the `allowed` characters; None allows every one.

    Raises:
        ValueError: `allowed` is empty or holds characters outside the charset.

    Example:

    >>> allowed_indices("10", Charset("0123")).tolist()
    [0, 1]
    """
    if allowed is None:
        return None
    if not isinstance(allowed, str) or not allowed:
        raise ValueError(f"`allowed` must be a non-empty string of characters. Received: allowed={allowed!r}")
    outside = sorted(set(allowed) - set(charset.characters))
    if outside:
        raise ValueError(
            f"`allowed` holds characters this model cannot read: {''.join(outside)!r}. "
            f"Its charset is {charset.characters!r}."
        )
    return np.array(sorted({charset.characters.index(c) for c in allowed}))


def mask_outputs(outputs, family, charset, indices):
    """Zeroes the characters outside `indices` and renormalises; a new copy.

    CTC keeps its blank, a variable-length multi-head model its "no
    character" class, so that a mask never forces a character where there is
    none.

    Args:
        outputs: CTC probabilities `(batch, time_steps, classes)`, or a list
            of multi-head arrays `(batch, classes)` in head order.
        family: str. `"ctc"` or `"multihead"`.
        charset: `Charset`.
        indices: int array from `allowed_indices`, or None (no mask).
    """
    if indices is None:
        return outputs
    keep = np.zeros(len(charset) + 1, dtype=bool)
    keep[indices] = True
    keep[len(charset)] = True  # the CTC blank, or the multi-head "no character"

    def masked(probs):
        probs = np.asarray(probs, dtype="float32")
        probs = np.where(keep[: probs.shape[-1]], probs, 0.0)
        total = probs.sum(axis=-1, keepdims=True)
        # A place where the model put all its mass on masked characters gets
        # a uniform choice among the allowed ones instead of a division by zero.
        uniform = np.where(keep[: probs.shape[-1]], 1.0 / keep[: probs.shape[-1]].sum(), 0.0)
        return np.where(total > 0, probs / np.maximum(total, 1e-30), uniform).astype("float32")

    if family == "ctc":
        return masked(outputs)
    return [masked(head) for head in outputs]


def _lattice(log_probs, labels, blank_index):
    """The CTC states of `labels` (each between blanks): their log-probabilities per frame
    `(time_steps, states)`, and which states may skip the blank before them (a label
    unlike the label two states back)."""
    states = np.array([blank_index] + [s for label in labels for s in (label, blank_index)])
    skip = np.zeros(len(states), dtype=bool)
    skip[2:] = (states[2:] != blank_index) & (states[2:] != states[:-2])
    return np.asarray(log_probs, dtype="float64")[:, states], skip


def align_ctc(log_probs, labels, blank_index):
    """The frames each label takes in the most probable CTC path of `labels`.

    Viterbi forced alignment over the labels interleaved with blanks.

    Args:
        log_probs: float array `(time_steps, classes)`.
        labels: list of int. The decoded label indices.
        blank_index: int.

    Returns:
        A list of int arrays, the frames of each label, in order; None when
        no path of `time_steps` frames spells `labels`.

    Example:

    >>> align_ctc(np.log([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]), [0, 0], blank_index=1)
    [array([0]), array([2])]
    """
    if not labels:
        return []
    emit, skip = _lattice(log_probs, labels, blank_index)
    time_steps, count = emit.shape
    score = np.full(count, -np.inf)
    score[0] = emit[0, 0]
    score[1] = emit[0, 1]
    back = np.zeros((time_steps, count), dtype="int64")
    for t in range(1, time_steps):
        stay = score
        step = np.concatenate([[-np.inf], score[:-1]])
        jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
        choices = np.stack([stay, step, jump])
        best = choices.argmax(axis=0)
        score = choices[best, np.arange(count)] + emit[t]
        back[t] = np.arange(count) - best
    end = count - 1 if score[count - 1] >= score[count - 2] else count - 2
    if not np.isfinite(score[end]):
        return None
    path = [end]
    for t in range(time_steps - 1, 0, -1):
        path.append(back[t, path[-1]])
    path.reverse()
    path = np.array(path)
    # State 2k + 1 is label k.
    return [np.flatnonzero(path == 2 * k + 1) for k in range(len(labels))]


def ctc_text_probability(log_probs, labels, blank_index):
    """The probability of `labels`, summed over every CTC path that spells them (the forward pass).

    Example:

    >>> round(ctc_text_probability(np.log([[0.6, 0.4], [0.6, 0.4]]), [0], blank_index=1), 2)
    0.84
    """
    if not labels:
        # Only the all-blank path spells nothing. (The lattice's one state
        # has no states two back to skip from.)
        return float(np.exp(np.asarray(log_probs, dtype="float64")[:, blank_index].sum()))
    emit, skip = _lattice(log_probs, labels, blank_index)
    count = emit.shape[1]
    alpha = np.full(count, -np.inf)
    alpha[0] = emit[0, 0]
    if count > 1:
        alpha[1] = emit[0, 1]
    for t in range(1, emit.shape[0]):
        step = np.concatenate([[-np.inf], alpha[:-1]])
        jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], alpha[:-2]]), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + emit[t]
    total = alpha[-1] if count == 1 else np.logaddexp(alpha[-1], alpha[-2])
    return float(np.exp(total))


def _alternatives(probs, chosen, charset, top):
    """The `top` most likely characters other than `chosen` in one distribution."""
    order = np.argsort(-probs[: len(charset)])
    # A character masked out by `allowed` has probability 0 and is no alternative.
    return [(charset.characters[i], float(probs[i])) for i in order if i != chosen and probs[i] > 0][:top]


def ctc_reading(probs, text, charset, top=TOP_ALTERNATIVES):
    """The `Reading` of CTC text `text` read from one image's probabilities `(time_steps, classes)`:
    its probability over all alignments, and each character from the best alignment."""
    labels = [charset.characters.index(c) for c in text]
    log_probs = log_probabilities(probs)
    confidence = ctc_text_probability(log_probs, labels, charset.blank_index)
    frames = align_ctc(log_probs, labels, charset.blank_index)
    if frames is None:
        return Reading(text, confidence, [CharacterReading(c, 0.0, []) for c in text])
    characters = []
    for label, span in zip(labels, frames):
        peak = span[np.argmax(probs[span, label])]
        characters.append(
            CharacterReading(
                charset.characters[label], float(probs[peak, label]), _alternatives(probs[peak], label, charset, top)
            )
        )
    return Reading(text, confidence, characters)


def multihead_characters(heads, charset, top=TOP_ALTERNATIVES):
    """`CharacterReading`s of one image's multi-head probabilities `(heads, classes)`."""
    characters = []
    for probs in heads:
        best = int(np.argmax(probs))
        if best >= len(charset):  # "no character" of a variable-length model
            continue
        characters.append(
            CharacterReading(charset.characters[best], float(probs[best]), _alternatives(probs, best, charset, top))
        )
    return characters


def read_outputs(
    outputs, family, charset, strategy="greedy", beam_width=10, lengths=None, allowed=None, top=TOP_ALTERNATIVES
):
    """Decodes a batch of model outputs into `Reading`s.

    Args:
        outputs: the model's outputs: CTC probabilities, or the multi-head
            dict `{"c1": ...}` or list of heads.
        family: str. `"ctc"` or `"multihead"`.
        charset: `Charset`.
        strategy, beam_width, lengths: CTC decoding, as `decode_ctc`.
        allowed: str or None. The characters a reading may use.
        top: int. Alternatives per character.

    Raises:
        ValueError: `allowed` holds characters outside `charset`.
    """
    if family != "ctc":
        outputs = head_list(outputs)
    outputs = mask_outputs(outputs, family, charset, allowed_indices(allowed, charset))
    decoded = decode_outputs(outputs, family, charset, strategy, beam_width, lengths)
    if family == "ctc":
        readings = [
            ctc_reading(np.asarray(outputs[i], dtype="float32"), text, charset, top)
            for i, (text, _) in enumerate(decoded)
        ]
        if lengths is not None:
            # No path of an allowed length (too few frames): the empty text
            # `decode_ctc` gives then is no reading, and has no probability.
            for reading in readings:
                if not lengths[0] <= len(reading.text) <= lengths[1]:
                    reading.confidence = 0.0
        return readings
    return [
        Reading(text, confidence, multihead_characters(np.stack([np.asarray(h[i]) for h in outputs]), charset, top))
        for i, (text, confidence) in enumerate(decoded)
    ]
