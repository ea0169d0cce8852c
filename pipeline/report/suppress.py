"""Small-cell suppression for a table published with its row and column totals, so that no
hidden count can be recovered from what is shown.

The table is seen as one grid with its totals: rows 0..m-1 and a total row m, columns 0..n-1
and a total column n. Every count from 1 to `threshold - 1` (cells and totals alike) is hidden:
primary suppression. Zeros are always shown (a zero is nobody), so a reader knows that every
hidden count is at least 1.

Complementary suppression, by rectangles. Take rows i, k and columns j, l of the grid, all four
entries hidden. Moving one unit around the rectangle (+1 at (i, j) and (k, l), -1 at (i, l) and
(k, j), where a total entry moves the opposite way to its cells: a total in row i rises with
the cell in row i) keeps every row and column sum, so every shown count and total stays
the same and the reader cannot tell the two tables apart, provided no hidden count falls
below 1 — the rectangle is *feasible* in that direction when every entry that falls is at
least 2. Such a rectangle gives each of its four entries a second possible value.

The algorithm: one pass over the primary entries, in a fixed order. An entry that already lies
in a feasible rectangle of hidden entries is left; otherwise the cheapest feasible rectangle
through it is chosen (least newly hidden count, then fewest new entries) and its entries are
hidden. One always exists: a cell with its row total, column total and grand total moves up by
one all together (for a total, take any non-zero cell of its line). The loop runs once per
primary entry, so it ends by construction; hidden entries never become shown again, so every
chosen rectangle stays hidden, and every hidden entry (primary or complementary) lies in one.
Hence no hidden count is determined by the published table, even by a reader who knows every
count is a non-negative integer and every hidden one is at least 1.

What this does not give: a protection interval wider than one unit, or protection across
several tables that share totals (each table is suppressed on its own; the report publishes
tables whose totals are not shared).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

THRESHOLD = 11

Entry = tuple[int, int]


@dataclass(frozen=True)
class Suppressed:
    """A table as published: `None` where a count is hidden."""

    rows: list[str]
    columns: list[str]
    cells: list[list[int | None]]
    row_totals: list[int | None]
    column_totals: list[int | None]
    total: int | None

    def as_dict(self) -> dict:
        return {"rows": self.rows, "columns": self.columns, "cells": self.cells,
                "row_totals": self.row_totals, "column_totals": self.column_totals, "total": self.total}


def suppress(rows: list[str], columns: list[str], counts: list[list[int]], threshold: int = THRESHOLD) -> Suppressed:
    """The table with every count under `threshold` hidden and enough others hidden beside them."""
    if len(counts) != len(rows) or any(len(row) != len(columns) for row in counts):
        raise ValueError("the counts do not match the rows and columns")
    if any(n < 0 for row in counts for n in row):
        raise ValueError("a count is negative")
    grid = _grid(counts)
    primary = sorted(e for e, n in grid.items() if 0 < n < threshold)
    hidden = set(primary)
    for entry in primary:
        if _protected(grid, hidden, entry):
            continue
        hidden |= set(min(_rectangles(grid, entry), key=lambda r: _cost(grid, hidden, r)))
    m, n = len(rows), len(columns)
    shown = lambda e: None if e in hidden else grid[e]  # noqa: E731
    return Suppressed(
        rows=list(rows), columns=list(columns),
        cells=[[shown((i, j)) for j in range(n)] for i in range(m)],
        row_totals=[shown((i, n)) for i in range(m)],
        column_totals=[shown((m, j)) for j in range(n)],
        total=shown((m, n)),
    )


def _grid(counts: list[list[int]]) -> dict[Entry, int]:
    """The cells with their totals: row m holds the column totals, column n the row totals."""
    m, n = len(counts), len(counts[0]) if counts else 0
    grid = {(i, j): counts[i][j] for i in range(m) for j in range(n)}
    for i in range(m):
        grid[(i, n)] = sum(counts[i])
    for j in range(n):
        grid[(m, j)] = sum(counts[i][j] for i in range(m))
    grid[(m, n)] = sum(map(sum, counts))
    return grid


def _sign(grid: dict[Entry, int], entry: Entry) -> int:
    """+1 for a cell and the grand total, -1 for a row or column total: with that sign every row
    and column of the grid sums to zero, so a unit moved around a rectangle keeps every sum."""
    m, n = max(grid)
    i, j = entry
    return -1 if (i == m) != (j == n) else 1


def _feasible(grid: dict[Entry, int], rectangle: tuple[Entry, Entry, Entry, Entry]) -> bool:
    """Whether a unit can move around the rectangle in one direction or the other with every
    count staying at least 1. The first and last entries move one way, the middle two the other."""
    a, b, c, d = rectangle
    for direction in (1, -1):
        moves = ((a, direction), (b, -direction), (c, -direction), (d, direction))
        if all(grid[e] + _sign(grid, e) * step >= 1 for e, step in moves):
            return True
    return False


def _rectangles(grid: dict[Entry, int], entry: Entry):
    """Every feasible rectangle through `entry` of non-zero counts, as (entry, (i, l), (k, j), (k, l))."""
    m, n = max(grid)
    i, j = entry
    for k, l in product(range(m + 1), range(n + 1)):
        if k == i or l == j:
            continue
        rectangle = (entry, (i, l), (k, j), (k, l))
        if all(grid[e] > 0 for e in rectangle) and _feasible(grid, rectangle):
            yield rectangle


def _protected(grid: dict[Entry, int], hidden: set[Entry], entry: Entry) -> bool:
    return any(set(r) <= hidden for r in _rectangles(grid, entry))


def _cost(grid: dict[Entry, int], hidden: set[Entry], rectangle) -> tuple:
    new = sorted(set(rectangle) - hidden)
    return sum(grid[e] for e in new), len(new), new
