"""Plain-text tables: rows as left-aligned columns, for CI logs and terminals alike (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def align(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Rows as left-aligned columns two spaces apart, each line prefixed with ``indent``.

    Every row must have as many cells as the first.
    """
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
