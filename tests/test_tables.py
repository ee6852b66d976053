"""captcha_keras.data.tables: the aligned tables and bad-file listings of the dataset tools' reports."""

from captcha_keras.data.tables import REPORT_LIMIT
from captcha_keras.data.tables import format_problems
from captcha_keras.data.tables import format_table
from captcha_keras.data.tables import listing


def test_numbers_are_right_aligned_text_left_aligned_and_no_line_ends_in_spaces():
    table = format_table(["size", "images", "share"], [["72x24", 1234, 0.9876], ["200x70", 5, 0.0124]])
    assert table.splitlines() == [
        "size    images  share",
        "72x24    1,234  98.8%",
        "200x70       5   1.2%",
    ]


def test_a_column_with_any_text_in_it_is_left_aligned():
    table = format_table(["part", "files"], [["train", 240], ["test", "none"]])
    assert table.splitlines() == ["part   files", "train  240", "test   none"]


def test_format_table_doctest_example():
    assert format_table(["size", "images"], [["72x24", 300]]) == "size   images\n72x24     300"


def test_problems_are_listed_up_to_the_limit_then_counted():
    problems = [(f"{i}.png", "not an image") for i in range(REPORT_LIMIT + 1234)]
    lines = format_problems(problems).splitlines()
    assert len(lines) == REPORT_LIMIT + 1
    assert lines[0] == "skipped 0.png: not an image"
    assert lines[-1] == "... and 1,234 more (dataset.py stats lists them all)"
    assert format_problems(problems[:2], limit=2) == "skipped 0.png: not an image\nskipped 1.png: not an image"
    assert format_problems([]) == ""


def test_listing_indents_the_problems_of_an_error_message():
    problems = [("a.png", "corrupt"), ("b.png", "empty"), ("c.png", "too small")]
    assert listing(problems, limit=2) == "  a.png: corrupt\n  b.png: empty\n  ... and 1 more"
    assert listing(problems) == "  a.png: corrupt\n  b.png: empty\n  c.png: too small"
