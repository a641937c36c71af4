"""Tables a person reads in a terminal: fitted to 120 columns unless asked for all of it on one line.

Headers are the JSON names, so a figure can be found in `--json` by the same name. To fit, a
header is wrapped after its `_` or `.` (the pieces read back as the name), and when even that is
too wide the columns are split into blocks, each repeating the first column.
"""

from __future__ import annotations

import re

WIDTH = 120
GAP = "  "


def render(head: list[str], rows: list[list[str]], wide: bool = False, width: int = WIDTH) -> list[str]:
    """The first column is the row's label (left-aligned); the others are figures (right-aligned)."""
    if wide or _width(head, rows, [[h] for h in head]) <= width:
        return _block(head, rows, range(len(head)), [[h] for h in head])
    pieces = [re.findall(r"[^_.]+[_.]?", h) or [h] for h in head]
    blocks: list[list[int]] = []
    current = [0]
    for column in range(1, len(head)):
        if _width(head, rows, pieces, [*current, column]) > width and len(current) > 1:
            blocks.append(current)
            current = [0]
        current.append(column)
    blocks.append(current)
    lines: list[str] = []
    for number, block in enumerate(blocks):
        if number:
            lines.append("")
        lines += _block(head, rows, block, pieces)
    return lines


def _column_width(rows: list[list[str]], pieces: list[list[str]], column: int) -> int:
    return max([len(p) for p in pieces[column]] + [len(row[column]) for row in rows])


def _width(
    head: list[str], rows: list[list[str]], pieces: list[list[str]], columns: list[int] | None = None
) -> int:
    chosen = range(len(head)) if columns is None else columns
    return sum(_column_width(rows, pieces, c) for c in chosen) + len(GAP) * (len(chosen) - 1)


def _block(
    head: list[str], rows: list[list[str]], columns: range | list[int], pieces: list[list[str]]
) -> list[str]:
    widths = {c: _column_width(rows, pieces, c) for c in columns}
    depth = max(len(pieces[c]) for c in columns)
    # Wrapped headers end on the bottom line, like a spreadsheet's, so every name ends on one row.
    stacked = [[*([""] * (depth - len(pieces[c]))), *pieces[c]] for c in columns]
    lines = [[header[line] for header in stacked] for line in range(depth)]
    lines += [[row[c] for c in columns] for row in rows]
    return [
        GAP.join(
            cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c])
            for c, cell in zip(columns, line, strict=True)
        ).rstrip()
        for line in lines
    ]
