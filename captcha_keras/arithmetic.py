"""Arithmetic captchas: questions such as `3+8=?`, `12-5=` or `7x6`, and their answers.

Pure functions on text. A run whose labels are questions records
`task="arithmetic"` (`runs.RunConfig`), and every reading of it carries
`answer(text)`, or the reason there is none (`inference.readings.with_answers`):
a text that is not a question gets no answer, never a guess.

A question is two natural numbers around one operator (`+`, `-`, `x` or `*`),
optionally followed by `=` or `=?`; spaces are ignored. A number with a leading
zero (`07`) is refused: no question shows one, so it is a misreading.
"""

import re

# The characters every question needs (`--style arith` refuses a charset without them);
# `x` (multiplication) is drawn too when the charset holds it.
CHARACTERS = "0123456789+-=?"
OPERATORS = "+-x"
# Questions run from `1+2` to `12+34=?`.
LENGTHS = (3, 7)

# ASCII digits only (int() would take other scripts'), and no more than 9 of them: no question shows more.
_QUESTION = re.compile(r"^([0-9]{1,9})([-+x*])([0-9]{1,9})(=\??)?$")


def answer(text):
    """The integer answer to an arithmetic question.

    Example:

    >>> answer("3+8=?"), answer("12-5="), answer("7x6"), answer("3 * 4")
    (11, 7, 42, 12)

    Raises:
        ValueError: the text is not a question; the message says why.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Not an arithmetic question (such as 3+8=?): nothing was read.")
    compact = re.sub(r"\s+", "", text)
    match = _QUESTION.match(compact)
    if not match:
        raise ValueError(f"Not an arithmetic question (such as 3+8=?): {text!r}.")
    a, op, b = match[1], match[2], match[3]
    leading = [n for n in (a, b) if len(n) > 1 and n.startswith("0")]
    if leading:
        raise ValueError(f"Not an arithmetic question (such as 3+8=?): {text!r} has a number with a leading zero.")
    a, b = int(a), int(b)
    return a + b if op == "+" else a - b if op == "-" else a * b


def is_question(text):
    """Whether `answer(text)` has an answer.

    >>> is_question("3+8=?"), is_question("3+8=?9")
    (True, False)
    """
    try:
        answer(text)
    except ValueError:
        return False
    return True


def are_questions(texts):
    """Whether `texts` is not empty and every text is a question: the labels of an arithmetic run."""
    texts = list(texts)
    return bool(texts) and all(is_question(t) for t in texts)


def random_question(rng, min_length=1, max_length=8, operators="+-"):
    """A random question such as `3+8=?` or `12-5=`, of a length within the bounds.

    Sums and differences of numbers up to 9 or 99 (a difference never
    negative, as on real sites); products of numbers up to 9 when `operators`
    holds `x`.

    Args:
        rng: `numpy.random.Generator`.
        min_length, max_length: int. Bounds of the text's length.
        operators: str. Some of `OPERATORS`.

    Raises:
        ValueError: no question fits the bounds (the shortest, `1+2`, has 3 characters).

    Example:

    >>> import numpy as np
    >>> text = random_question(np.random.default_rng(0), 4, 6)
    >>> 4 <= len(text) <= 6 and answer(text) >= 0
    True
    """
    low, high = LENGTHS
    if max_length < low or min_length > high:
        raise ValueError(
            f"Arithmetic questions have {low} to {high} characters. Received: length {min_length}-{max_length}"
        )
    unknown = sorted(set(operators) - set(OPERATORS))
    if unknown or not operators:
        raise ValueError(f"operators must be some of {OPERATORS!r}. Received: operators={operators!r}")
    for _ in range(1000):
        top = 9 if rng.random() < 0.5 else 99
        a, b = int(rng.integers(0, top + 1)), int(rng.integers(0, top + 1))
        op = operators[int(rng.random() * len(operators))]
        if op == "x":
            a, b = a % 10, b % 10
        elif op == "-" and b > a:
            a, b = b, a
        text = f"{a}{op}{b}" + ("=?", "=", "")[int(rng.integers(0, 3))]
        if min_length <= len(text) <= max_length:
            return text
    raise ValueError(f"No arithmetic question fits lengths {min_length}-{max_length}.")
