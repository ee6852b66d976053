"""Character sets: presets, validation, and text <-> index encoding."""

import string

import numpy as np


def gb2312_level1():
    """GB2312's level-1 hanzi, the 3,755 most common Chinese characters, in the standard's
    (pinyin) order: read from Python's own `gb2312` codec, rows 0xB0-0xD7, so no list is downloaded.

    >>> characters = gb2312_level1()
    >>> len(characters), characters[:4]
    (3755, '啊阿埃挨')
    """
    characters = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            try:
                characters.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:  # row 0xD7 ends at 0xF9
                pass
    return "".join(characters)


# Presets are plain strings in one place. `alnum_upper` is the reference
# design's alphabet (ypwhs/captcha_break: digits + A-Z); `hanzi`, GB2312's
# level-1 Chinese characters, alone or after digits and letters.
PRESETS = {
    "digits": string.digits,
    "upper": string.ascii_uppercase,
    "lower": string.ascii_lowercase,
    "alnum_upper": string.digits + string.ascii_uppercase,
    "alnum": string.digits + string.ascii_uppercase + string.ascii_lowercase,
    "hanzi": gb2312_level1(),
    "hanzi_alnum": string.digits + string.ascii_uppercase + string.ascii_lowercase + gb2312_level1(),
}
DEFAULT_CHARSET = "alnum_upper"

# Padding value for encoded labels shorter than the batch's longest label.
PAD = -1


class Charset:
    """An ordered set of unique characters that a model can read.

    Index `i` in the model's output is `characters[i]`. CTC models use one
    more class, the blank, at index `len(charset)`; multi-head models with a
    variable length use that same extra index for "no character here".

    Args:
        characters: str. A preset name (`digits`, `upper`, `lower`,
            `alnum_upper`, `alnum`, `hanzi`, `hanzi_alnum`) or a literal
            string of unique characters.
            Defaults to `"alnum_upper"`.

    Example:

    >>> charset = Charset("digits")
    >>> charset.encode("042")
    [0, 4, 2]
    >>> charset.decode([0, 4, 2])
    '042'
    """

    def __init__(self, characters=DEFAULT_CHARSET):
        self.characters = resolve_charset(characters)
        self._index = {c: i for i, c in enumerate(self.characters)}

    def __len__(self):
        return len(self.characters)

    def __contains__(self, character):
        return character in self._index

    def __eq__(self, other):
        return isinstance(other, Charset) and other.characters == self.characters

    def __repr__(self):
        return f"Charset({self.characters!r})"

    @property
    def blank_index(self):
        """Index of the CTC blank (or multi-head "no character") class."""
        return len(self.characters)

    def invalid_characters(self, text):
        """Returns the sorted characters of `text` that are not in the set."""
        return sorted(set(text) - set(self._index))

    def validate(self, text):
        """Raises a ValueError naming every character of `text` outside the set."""
        invalid = self.invalid_characters(text)
        if invalid:
            raise ValueError(
                f"Label {text!r} has characters outside the charset: {''.join(invalid)!r}. Charset: {self.characters!r}"
            )

    def encode(self, text):
        """Returns the list of class indices of `text`."""
        self.validate(text)
        return [self._index[c] for c in text]

    def decode(self, indices):
        """Returns the text of class indices, skipping padding and blanks."""
        return "".join(self.characters[i] for i in indices if 0 <= i < len(self.characters))


def resolve_charset(characters):
    """Returns the literal characters of a preset name or a literal string.

    Args:
        characters: str. A preset name or a string of unique characters.

    Raises:
        ValueError: for an empty string or repeated characters.
    """
    if isinstance(characters, Charset):
        return characters.characters
    if not isinstance(characters, str) or not characters:
        raise ValueError(
            "A charset is a preset name "
            f"({', '.join(PRESETS)}) or a non-empty string of characters. "
            f"Received: charset={characters!r}"
        )
    if characters in PRESETS:
        return PRESETS[characters]
    repeated = sorted({c for c in characters if characters.count(c) > 1})
    if repeated:
        raise ValueError(
            f"A charset's characters must be unique; repeated: {''.join(repeated)!r}. Received: charset={characters!r}"
        )
    return characters


def encode_labels(texts, charset, max_length=None):
    """Encodes texts as a padded integer matrix.

    Args:
        texts: list of str. The labels.
        charset: `Charset`. The alphabet.
        max_length: int. Width of the matrix; defaults to the longest label.

    Returns:
        An int32 array of shape `(len(texts), max_length)` padded with `PAD`.

    Raises:
        ValueError: for a character outside the charset, an empty label, or
            a label longer than `max_length`.

    Example:

    >>> encode_labels(["12", "3"], Charset("digits"))
    array([[ 1,  2],
           [ 3, -1]], dtype=int32)
    """
    if max_length is None:
        max_length = max((len(t) for t in texts), default=0)
    labels = np.full((len(texts), max_length), PAD, dtype="int32")
    for row, text in enumerate(texts):
        if not text:
            raise ValueError("Labels must not be empty. Received: text=''")
        if len(text) > max_length:
            raise ValueError(f"Label {text!r} is longer than max_length={max_length}.")
        labels[row, : len(text)] = charset.encode(text)
    return labels


def decode_labels(labels, charset):
    """Decodes a padded integer matrix (see `encode_labels`) back to texts."""
    return [charset.decode(row) for row in np.asarray(labels)]


def parse_length(length):
    """Parses a label length: an int, a `(min, max)` pair or a `"4-6"` string.

    Returns:
        A `(min_length, max_length)` tuple of ints.

    Example:

    >>> parse_length("4-6")
    (4, 6)
    """
    if isinstance(length, str):
        parts = length.split("-")
        try:
            values = [int(p) for p in parts]
        except ValueError:
            values = []
        if len(values) not in (1, 2):
            raise ValueError(f"A length is a number or a range such as '4-6'. Received: length={length!r}")
        length = tuple(values) if len(values) == 2 else values[0]
    if isinstance(length, (int, np.integer)):
        length = (int(length), int(length))
    low, high = (int(v) for v in length)
    if low < 1 or high < low:
        raise ValueError(f"A length range needs 1 <= min <= max. Received: length={length!r}")
    return low, high
