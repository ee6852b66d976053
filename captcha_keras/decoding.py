"""Turning model outputs into texts with confidences."""

import numpy as np

STRATEGIES = ("greedy", "beam_search")


def decode_ctc(probs, charset, strategy="greedy", beam_width=10):
    """Decodes CTC probabilities with `keras.ops.ctc_decode`.

    Args:
        probs: float array `(batch, time_steps, len(charset) + 1)`, softmax
            outputs with the blank last.
        charset: `Charset`. The alphabet.
        strategy: str. `"greedy"` or `"beam_search"`. Defaults to `"greedy"`.
        beam_width: int. Beams kept by beam search. Defaults to 10.

    Returns:
        A list of `(text, confidence)`. Greedy confidence is the product of
        each time step's top probability (the best path's probability); beam
        search's is the probability the decoder gives the labelling.

    Example:

    >>> probs = np.zeros((1, 3, 3)); probs[0, :, 2] = 1; probs[0, 1] = [1, 0, 0]
    >>> decode_ctc(probs, Charset("ab"))
    [('a', 1.0)]
    """
    from keras import ops

    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown decoding strategy. Expected one of {STRATEGIES}. Received: strategy={strategy!r}")
    probs = np.asarray(probs, dtype="float32")
    if probs.ndim != 3 or probs.shape[-1] != len(charset) + 1:
        raise ValueError(
            f"CTC outputs must be (batch, time_steps, {len(charset) + 1}). Received: shape={probs.shape}"
        )
    log_probs = np.log(np.clip(probs, 1e-12, 1.0))
    lengths = np.full((probs.shape[0],), probs.shape[1], dtype="int32")
    decoded, scores = ops.ctc_decode(
        log_probs,
        lengths,
        strategy=strategy,
        beam_width=beam_width,
        mask_index=charset.blank_index,
    )
    decoded = ops.convert_to_numpy(decoded)[0]
    scores = ops.convert_to_numpy(scores).reshape(probs.shape[0], -1)[:, 0]
    if strategy == "greedy":
        # TensorFlow's greedy decoder scores a path by minus the sum of its
        # log-probabilities; Keras passes that on.
        scores = -scores
    confidences = np.exp(np.minimum(scores, 0.0))
    return [(charset.decode(row), float(c)) for row, c in zip(decoded, confidences)]


def decode_multihead(head_probs, charset):
    """Decodes the per-character softmax heads of a multi-head model.

    Args:
        head_probs: list of float arrays `(batch, classes)`, one per head in
            order. A class index of `len(charset)` means "no character"
            (variable-length models).
        charset: `Charset`. The alphabet.

    Returns:
        A list of `(text, confidence)`; confidence is the product of the heads'
        top probabilities.
    """
    stacked = np.stack([np.asarray(p, dtype="float32") for p in head_probs], axis=1)
    best = stacked.argmax(axis=-1)
    confidences = stacked.max(axis=-1).prod(axis=-1)
    return [(charset.decode(row), float(c)) for row, c in zip(best, confidences)]


def decode_outputs(outputs, family, charset, strategy="greedy", beam_width=10):
    """Decodes a model's raw outputs, whichever the family.

    Args:
        outputs: for `ctc`, the probability array; for `multihead`, a dict
            `{"c1": ..., ...}` or a list of head arrays in order.
    """
    if family == "ctc":
        return decode_ctc(outputs, charset, strategy, beam_width)
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs, key=lambda k: int(k[1:]))]
    return decode_multihead(outputs, charset)
