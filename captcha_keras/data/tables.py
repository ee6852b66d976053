"""Plain-text tables and bad-file listings for the dataset tools' reports."""

# Bad files named in an error message or a printed report before "... and N more".
REPORT_LIMIT = 20


def format_table(headers, rows):
    """Aligned plain-text columns: numbers right-aligned, text left-aligned.

    Example:

    >>> print(format_table(["size", "images"], [["72x24", 300]]))
    size   images
    72x24     300
    """
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_problems(problems, limit=REPORT_LIMIT):
    """`skipped FILE: reason` lines, at most `limit` of them, then a count of the rest."""
    lines = [f"skipped {file}: {reason}" for file, reason in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit:,} more (dataset.py stats lists them all)")
    return "\n".join(lines)


def listing(problems, limit=REPORT_LIMIT):
    lines = [f"  {file}: {reason}" for file, reason in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit:,} more")
    return "\n".join(lines)
