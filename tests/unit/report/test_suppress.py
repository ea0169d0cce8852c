"""Small counts are hidden, and no hidden count can be recovered from what is published.

Two attackers, written independently of the module (they know only the published table):
- `completions` enumerates every table of non-negative integers that agrees with the
  published one, with every hidden count at least 1 (zeros are always shown, so a reader knows
  that much), and collects the values each hidden entry can take;
- `linear_and_interval` solves the linear system of the totals exactly (fractions) and narrows
  each hidden entry's interval by the totals until nothing changes.
Both must find every hidden entry (cells and totals) with more than one possible value. Each is
shown to recover a cell from a table with primary suppression only, so neither is vacuous.
"""
from __future__ import annotations

from fractions import Fraction
from itertools import product

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from pipeline.report.suppress import Suppressed, suppress


def grid_of(pub: Suppressed) -> dict[tuple[int, int], int | None]:
    """The published table as one grid: row m the column totals, column n the row totals."""
    m, n = len(pub.rows), len(pub.columns)
    grid = {(i, j): pub.cells[i][j] for i in range(m) for j in range(n)}
    grid.update({(i, n): pub.row_totals[i] for i in range(m)})
    grid.update({(m, j): pub.column_totals[j] for j in range(n)})
    grid[(m, n)] = pub.total
    return grid


def lines(m: int, n: int):
    """Each line of the grid as (the entries that add up, the entry that is their total)."""
    for i in range(m + 1):
        yield [(i, j) for j in range(n)], (i, n)
    for j in range(n + 1):
        yield [(i, j) for i in range(m)], (m, j)


def completions(pub: Suppressed, cap: int):
    """Every table agreeing with `pub` whose hidden cells lie in 1..cap; yields the hidden entries' values.
    Row by row: where a row's total is shown, only the splits of what it leaves are tried."""
    m, n = len(pub.rows), len(pub.columns)
    grid = grid_of(pub)
    per_row = []
    for i in range(m):
        cells = [(i, j) for j in range(n) if grid[(i, j)] is None]
        options = product(range(1, cap + 1), repeat=len(cells))
        if grid[(i, n)] is not None:
            left = grid[(i, n)] - sum(grid[(i, j)] for j in range(n) if grid[(i, j)] is not None)
            options = (o for o in options if sum(o) == left)
        per_row.append([dict(zip(cells, o)) for o in options])
    for choice in product(*per_row):
        full = dict(grid)
        for part in choice:
            full.update(part)
        for i in range(m):
            full[(i, n)] = sum(full[(i, j)] for j in range(n))
        for j in range(n):
            full[(m, j)] = sum(full[(i, j)] for i in range(m))
        full[(m, n)] = sum(full[(i, n)] for i in range(m))
        if any(grid[e] is not None and grid[e] != full[e] for e in grid):
            continue
        if any(grid[e] is None and full[e] < 1 for e in grid):
            continue
        yield {e: full[e] for e in grid if grid[e] is None}


def equations_of(pub: Suppressed, tag: object = None) -> tuple[list, list]:
    """The published table's hidden entries (as (tag, entry)) and its line equations over them:
    (coefficients by unknown, right-hand side), each line's parts less its total equal to zero."""
    m, n = len(pub.rows), len(pub.columns)
    grid = grid_of(pub)
    unknown = sorted((tag, e) for e, v in grid.items() if v is None)
    equations = []
    for parts, total in lines(m, n):
        row, rhs = {}, Fraction(0)
        for e, coefficient in [(p, 1) for p in parts] + [(total, -1)]:
            if grid[e] is None:
                row[(tag, e)] = row.get((tag, e), 0) + coefficient
            else:
                rhs -= coefficient * grid[e]
        if any(row.values()):
            equations.append((row, rhs))
    return unknown, equations


def attack(unknown: list, equations: list, cap: int) -> set:
    """The unknowns pinned down by the linear system (exact) or by narrowing each one's interval
    (every unknown at least 1, at most `cap`) until nothing changes."""
    matrix = [[Fraction(coefficients.get(u, 0)) for u in unknown] for coefficients, _ in equations]
    pinned = {unknown[k] for k in _determined(matrix, len(unknown))}
    low = {u: 1 for u in unknown}
    high = {u: cap for u in unknown}
    for _ in range(50):
        changed = False
        for coefficients, rhs in equations:
            for u, a in coefficients.items():
                if not a:
                    continue
                rest = [(c, f) for f, c in coefficients.items() if f != u and c]
                rest_low = sum(c * (low[f] if c > 0 else high[f]) for c, f in rest)
                rest_high = sum(c * (high[f] if c > 0 else low[f]) for c, f in rest)
                bounds = sorted((Fraction(rhs - rest_low) / a, Fraction(rhs - rest_high) / a))  # a*x = rhs - rest
                new_low, new_high = max(low[u], _ceil(bounds[0])), min(high[u], _floor(bounds[1]))
                if (new_low, new_high) != (low[u], high[u]):
                    low[u], high[u], changed = new_low, new_high, True
        if not changed:
            break
    return pinned | {u for u in unknown if low[u] == high[u]}


def linear_and_interval(pub: Suppressed, cap: int) -> set[tuple[int, int]]:
    """The hidden entries of one table this attacker pins down."""
    unknown, equations = equations_of(pub)
    return {e for _, e in attack(unknown, equations, cap)}


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator


def _determined(matrix: list[list[Fraction]], width: int) -> set[int]:
    """The unknowns the equations fix: reduced row echelon form once; an unknown is fixed when it
    is a pivot whose row has no free unknown (no null-space vector moves it)."""
    rows = [list(r) for r in matrix]
    pivots = []
    for col in range(width):
        pivot = next((r for r in range(len(pivots), len(rows)) if rows[r][col]), None)
        if pivot is None:
            continue
        k = len(pivots)
        rows[k], rows[pivot] = rows[pivot], rows[k]
        rows[k] = [x / rows[k][col] for x in rows[k]]
        for r in range(len(rows)):
            if r != k and rows[r][col]:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[k])]
        pivots.append(col)
    free = set(range(width)) - set(pivots)
    return {col for k, col in enumerate(pivots) if not any(rows[k][f] for f in free)}


def published_correctly(table, pub: Suppressed, threshold: int) -> None:
    """Every count under the threshold hidden, every zero shown, every shown count true."""
    grid = grid_of(pub)
    m, n = len(table), len(table[0])
    truth = {(i, j): table[i][j] for i in range(m) for j in range(n)}
    truth.update({(i, n): sum(table[i]) for i in range(m)})
    truth.update({(m, j): sum(r[j] for r in table) for j in range(n)})
    truth[(m, n)] = sum(map(sum, table))
    for e, value in truth.items():
        if 0 < value < threshold:
            assert grid[e] is None, f"{e}={value} is shown"
        elif value == 0:
            assert grid[e] == 0
        elif grid[e] is not None:
            assert grid[e] == value


def tables(counts, rows=(1, 3), columns=(1, 3)):
    return st.integers(*rows).flatmap(lambda r: st.integers(*columns).flatmap(
        lambda c: st.lists(st.lists(counts, min_size=c, max_size=c), min_size=r, max_size=r)))


def name(table):
    return [f"r{i}" for i in range(len(table))], [f"c{j}" for j in range(len(table[0]))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(tables(st.one_of(st.just(0), st.integers(1, 3), st.integers(4, 7)), rows=(1, 3), columns=(1, 3)))
@example([[1, 1, 6], [5, 5, 6]])
def test_no_hidden_entry_has_one_possible_value(table):
    """Threshold 4 keeps the enumeration small; the rule is the same as at 11."""
    pub = suppress(*name(table), table, threshold=4)
    published_correctly(table, pub, 4)
    hidden = [e for e, v in grid_of(pub).items() if v is None]
    if not hidden:
        return
    cap = max(map(max, table)) + 2
    assume(cap ** sum(v is None for row in pub.cells for v in row) <= 40_000)
    seen = {e: set() for e in hidden}
    for solution in completions(pub, cap):
        for e, value in solution.items():
            seen[e].add(value)
    for e, values in seen.items():
        assert len(values) >= 2, f"{e} is recoverable as {values} from {pub}"


@settings(max_examples=60, deadline=None)
@given(tables(st.one_of(st.just(0), st.integers(1, 10), st.integers(11, 60)), rows=(1, 6), columns=(1, 5)))
def test_larger_tables_resist_the_linear_and_interval_attack(table):
    pub = suppress(*name(table), table)
    published_correctly(table, pub, 11)
    assert linear_and_interval(pub, cap=10 * sum(map(sum, table)) + 10) == set()


def test_both_attackers_recover_a_cell_under_primary_suppression_only():
    table = [[40, 3], [25, 30]]
    naive = Suppressed(["ems", "police"], ["overdose", "crisis"], [[40, None], [25, 30]], [43, 55], [65, 33], 98)
    assert linear_and_interval(naive, cap=200) == {(0, 1)}
    assert list(completions(naive, cap=10)) == [{(0, 1): 3}]
    pub = suppress(["ems", "police"], ["overdose", "crisis"], table)
    assert linear_and_interval(pub, cap=200) == set()


def test_the_attack_by_interval_catches_a_cell_pinned_at_one():
    """Two hidden cells in a line whose shown total leaves 2: both must be 1."""
    pub = Suppressed(["a"], ["x", "y", "z"], [[None, None, 20]], [22], [None, None, 20], 22)
    assert linear_and_interval(pub, cap=100) >= {(0, 0), (0, 1)}


def test_a_known_month():
    pub = suppress(["ems", "fire", "police"], ["overdose", "crisis", "suicide"],
                   [[40, 3, 12], [25, 30, 0], [14, 18, 21]])
    assert pub.cells[0][1] is None  # the 3
    assert pub.cells[1][2] == 0  # zeros shown
    hidden = sum(v is None for row in pub.cells for v in row)
    assert 2 <= hidden <= 4  # one rectangle: the 3 and three complements at most
    assert linear_and_interval(pub, cap=500) == set()


def test_a_rectangle_that_would_pin_ones_is_not_used():
    """Moving a unit around the 1s and 5s drops a 1 to 0 either way: a reader who knows that
    hidden counts are at least 1 would pin both ones. The enumeration must still find two values."""
    table = [[1, 1, 6], [5, 5, 6]]
    pub = suppress(*name(table), table, threshold=4)
    seen = {}
    for solution in completions(pub, cap=8):
        for e, value in solution.items():
            seen.setdefault(e, set()).add(value)
    assert seen and all(len(values) >= 2 for values in seen.values()), (pub, seen)


def test_nothing_small_nothing_hidden():
    pub = suppress(["a", "b"], ["x", "y"], [[11, 0], [0, 50]])
    assert pub.cells == [[11, 0], [0, 50]] and pub.total == 61


@pytest.mark.parametrize("table", [[[1]], [[0]], [[5, 0, 0]], [[1], [1]]])
def test_degenerate_tables(table):
    pub = suppress(*name(table), table)
    published_correctly(table, pub, 11)
    assert linear_and_interval(pub, cap=50) == set()


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        suppress(["a"], ["x"], [[-1]])
    with pytest.raises(ValueError):
        suppress(["a"], ["x", "y"], [[1]])
