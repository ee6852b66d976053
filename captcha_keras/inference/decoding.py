"""Turning model outputs into texts with confidences."""

import numpy as np

STRATEGIES = ("greedy", "beam_search")


def decode_ctc(probs, charset, strategy="greedy", beam_width=10, lengths=None):
    """Decodes CTC probabilities: greedy in NumPy, beam search with `keras.ops.ctc_decode`.

    With `lengths`, a text whose length falls outside the range is decoded
    again as the best path that has an allowed length (`best_path_within`):
    a greedy "3IC" for a 4-character captcha usually lost a repeated or faint
    character the probabilities still hold, and such a text is wrong anyway.

    Args:
        probs: float array `(batch, time_steps, len(charset) + 1)`, softmax
            outputs with the blank last.
        charset: `Charset`. The alphabet.
        strategy: str. `"greedy"` or `"beam_search"`. Defaults to `"greedy"`.
        beam_width: int. Beams kept by beam search. Defaults to 10.
        lengths: `(min_length, max_length)` or None. The label lengths a
            text may have; None accepts any.

    Returns:
        A list of `(text, confidence)`. Greedy confidence is the product of
        each time step's top probability (the best path's probability); beam
        search's is the probability the decoder gives the labelling. A text
        read again for `lengths` has its best path's probability either way.

    Example:

    >>> probs = np.zeros((1, 3, 3)); probs[0, :, 2] = 1; probs[0, 1] = [1, 0, 0]
    >>> decode_ctc(probs, Charset("ab"))
    [('a', 1.0)]
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown decoding strategy. Expected one of {STRATEGIES}. Received: strategy={strategy!r}")
    probs = np.asarray(probs, dtype="float32")
    if probs.ndim != 3 or probs.shape[-1] != len(charset) + 1:
        raise ValueError(f"CTC outputs must be (batch, time_steps, {len(charset) + 1}). Received: shape={probs.shape}")
    log_probs = log_probabilities(probs)
    if strategy == "greedy":
        # NumPy, not keras.ops: an ONNX or LiteRT model is read without TensorFlow.
        decoded, scores = greedy_ctc(log_probs, charset.blank_index)
    else:
        decoded, scores = _beam_search(log_probs, charset.blank_index, beam_width)
    confidences = np.exp(np.minimum(scores, 0.0))
    results = [(charset.decode(labels), float(c)) for labels, c in zip(decoded, confidences)]
    if lengths is not None:
        low, high = lengths
        redo = [i for i, (text, _) in enumerate(results) if not low <= len(text) <= high]
        if redo:
            paths = best_path_within(log_probs[redo], low, high, charset.blank_index)
            for i, (labels, log_p) in zip(redo, paths):
                results[i] = (charset.decode(labels), float(np.exp(log_p)))
    return results


def log_probabilities(probs):
    """Log-probabilities of softmax outputs, as every reader of them takes them (here, `readings`, the graph).

    Probabilities are floored at 1e-12. An exact zero is a character masked
    out (`readings.mask_outputs`), or one so unlikely that float32
    underflowed: no path should use it, not even one that `lengths` forces.
    -1e9 rather than -inf keeps such paths ordered among themselves (float64
    still resolves the rest of their score).
    """
    probs = np.asarray(probs, dtype="float32")
    log_probs = np.log(np.clip(probs, 1e-12, 1.0))
    log_probs[probs <= 0] = -1e9
    return log_probs


def greedy_ctc(log_probs, blank_index):
    """Best-path decoding: each frame's most likely symbol, repeats merged, blanks dropped.

    The same texts as `keras.ops.ctc_decode(strategy="greedy")`, without
    TensorFlow; the score is the best path's log-probability (Keras returns
    its negation).

    Returns:
        `(labels, scores)`: a list of label-index lists, and each best
        path's log-probability.
    """
    best = np.argmax(log_probs, axis=-1)
    scores = np.take_along_axis(log_probs, best[..., None], axis=-1)[..., 0].sum(axis=-1)
    previous = np.concatenate([np.full_like(best[:, :1], -1), best[:, :-1]], axis=1)
    keep = (best != blank_index) & (best != previous)
    return [row[mask].tolist() for row, mask in zip(best, keep)], scores


def _beam_search(log_probs, blank_index, beam_width):
    from keras import ops

    frames = np.full((log_probs.shape[0],), log_probs.shape[1], dtype="int32")
    decoded, scores = ops.ctc_decode(
        log_probs, frames, strategy="beam_search", beam_width=beam_width, mask_index=blank_index
    )
    decoded = ops.convert_to_numpy(decoded)[0]
    scores = ops.convert_to_numpy(scores).reshape(log_probs.shape[0], -1)[:, 0]
    return [[int(i) for i in row if i >= 0] for row in decoded], scores


def best_path_within(log_probs, min_length, max_length, blank_index):
    """The most probable CTC path whose collapsed labelling has an allowed length.

    Viterbi over states (labels emitted so far, symbol of the last frame): a
    frame's blank keeps the count; a character repeating the last frame's
    symbol merges into it; any other character starts a new label. Exact for
    the best single path, as greedy decoding is without the constraint.

    Args:
        log_probs: float array `(batch, time_steps, symbols)`.
        min_length: int. Fewest labels allowed.
        max_length: int. Most labels allowed.
        blank_index: int. The blank's symbol index.

    Returns:
        A list of `(labels, log_probability)`: label indices (blanks removed,
        repeats merged) and the path's log-probability; `([], -inf)` where no
        path has an allowed length (fewer frames than `min_length` needs).

    Example:

    >>> log_probs = np.log([[[0.4, 0.6], [0.4, 0.6]]])  # symbol 0, blank 1
    >>> best_path_within(log_probs, 1, 1, blank_index=1)[0][0]
    [0]
    """
    if not 0 <= min_length <= max_length:
        raise ValueError(
            f"Label lengths must satisfy 0 <= min_length <= max_length. "
            f"Received: min_length={min_length}, max_length={max_length}"
        )
    log_probs = np.asarray(log_probs, dtype="float64")
    batch, time_steps, symbols = log_probs.shape
    counts = np.arange(max_length + 1)[None, :, None]
    symbol = np.arange(symbols)[None, None, :]
    # score[b, k, s]: best log-probability of a path with k labels so far whose
    # last frame is s; back_* point to the previous frame's (k, s).
    score = np.full((batch, max_length + 1, symbols), -np.inf)
    score[:, 0, blank_index] = log_probs[:, 0, blank_index]
    if max_length:
        score[:, 1] = np.where(symbol[0, 0] == blank_index, -np.inf, log_probs[:, 0])
    back_k = np.zeros((time_steps, batch, max_length + 1, symbols), dtype="int32")
    back_s = np.zeros_like(back_k)
    for t in range(1, time_steps):
        # A new label c at count k follows count k-1 ending in any symbol but
        # c: the best such symbol is the best one, or the second when that is c.
        top = np.argsort(-score, axis=2)[:, :, :2]
        first = np.take_along_axis(score, top[:, :, :1], 2)
        second = np.take_along_axis(score, top[:, :, 1:], 2)
        is_first = symbol == top[:, :, :1]
        new_score = np.where(is_first, second, first)
        new_from = np.where(is_first, top[:, :, 1:], top[:, :, :1])
        new_score = np.concatenate([np.full_like(new_score[:, :1], -np.inf), new_score[:, :-1]], axis=1)
        new_from = np.concatenate([np.zeros_like(new_from[:, :1]), new_from[:, :-1]], axis=1)
        stay = score >= new_score
        step = np.where(stay, score, new_score)
        back_k[t] = np.where(stay, counts, counts - 1)
        back_s[t] = np.where(stay, symbol, new_from)
        # A blank keeps the count and may follow any symbol.
        step[:, :, blank_index] = first[:, :, 0]
        back_k[t, :, :, blank_index] = counts[:, :, 0]
        back_s[t, :, :, blank_index] = top[:, :, 0]
        score = step + log_probs[:, t, None, :]
    results = []
    for b in range(batch):
        allowed = score[b, min_length:]
        k, s = np.unravel_index(np.argmax(allowed), allowed.shape)
        k += min_length
        log_p = float(score[b, k, s])
        if log_p == -np.inf:
            results.append(([], log_p))
            continue
        path = [s]
        for t in range(time_steps - 1, 0, -1):
            k, s = back_k[t, b, k, s], back_s[t, b, k, s]
            path.append(s)
        path.reverse()
        labels = [int(p) for i, p in enumerate(path) if p != blank_index and (i == 0 or path[i - 1] != p)]
        results.append((labels, log_p))
    return results


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


def decode_outputs(outputs, family, charset, strategy="greedy", beam_width=10, lengths=None):
    """Decodes a model's raw outputs, whichever the family.

    Args:
        outputs: for `ctc`, the probability array; for `multihead`, a dict
            `{"c1": ..., ...}` or a list of head arrays in order.
        family: str. `"ctc"` or `"multihead"`.
        charset: `Charset`. The alphabet.
        strategy, beam_width, lengths: CTC decoding, as `decode_ctc`. A
            multi-head model's length is fixed by its heads.
    """
    if family == "ctc":
        return decode_ctc(outputs, charset, strategy, beam_width, lengths)
    return decode_multihead(head_list(outputs), charset)


def head_list(outputs):
    """A multi-head model's outputs in head order: a dict `{"c1": ..., "c2": ...}` becomes a list."""
    if isinstance(outputs, dict):
        return [outputs[k] for k in sorted(outputs, key=lambda k: int(k[1:]))]
    return outputs
