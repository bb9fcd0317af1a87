"""BOIN for drug combinations: the next dose combination and the final MTD.

Lin & Yin (2017, Statistical Methods in Medical Research 26:2155) extend
BOIN to a J × K grid of combinations (row = level of drug A, column = level
of drug B; 1-based here as in R).  The single-agent boundaries of Liu & Yuan
(2015) decide *whether* to escalate, de-escalate or stay at the current
combination; *where* to go is chosen among the two adjacent moves (one level
up in A or in B when escalating, one level down when de-escalating) as the
one with the largest posterior probability that its toxicity lies in the
target interval (λe, λd), Pr(λe < p < λd | y, n) under a Beta(y + 0.5,
n − y + 0.5) posterior (Jeffreys prior), plus 0.0005·n to favour the better
informed move.  Escalation skips eliminated combinations (a combination and
every combination at least as high in both drugs are eliminated once the
elimination boundary of Liu & Yuan is met there) and, as ``BOIN::next.comb``
2.7.2 does, never enters a level of one drug at which a combination with no
more of the other drug already shows an observed rate of at least λd.  Exact
ties are broken at random (R uses ``runif``; here a seeded
:class:`numpy.random.Generator`).

At the end of the trial (:func:`select_mtd_comb`) the toxicity estimates
(y + 0.05)/(n + 0.1) are made non-decreasing in both drugs by bivariate
isotonic regression with weights n + 0.1 (Dykstra & Robertson 1982, Applied
Statistics algorithm AS 206, Bril et al. 1984, as ``Iso::biviso``), rounded
to 2 decimals, and the tested, non-eliminated combination closest to the
target is the MTD; with ``mtd_contour`` one MTD is chosen per level of drug A
(Zhang & Yuan 2016).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import betainc

from ..errors import InputError
from ..selector import require
from .boin_boundary import (
    BoinSettings, BoundaryRow, boin_settings, boundary_at, deescalation_boundary, interval_boundaries,
    too_toxic,
)

Matrix = Sequence[Sequence[int]]
Combo = tuple[int, int]

#: ``next.comb`` reads its boundaries from a table of 150 patients (``ncohort = 150``).
NEXT_COMB_TABLE_SIZE = 150
#: Weight per patient that favours the better-informed of two tied moves.
INFORMATION_BONUS = 0.0005
#: Tie-breaker per level (i + j)·1e-5 when selecting the MTD combination.
COMB_TIE_BREAK = 1e-5
#: Marks that keep eliminated (1.1) and untested or over-bound (10) combinations from selection.
ELIMINATED_MARK = 1.1
EXCLUDED_MARK = 10.0


@dataclass(frozen=True, slots=True)
class NextComb:
    """The combination for the next cohort (``None``: the trial terminates).

    ``candidates`` are all the answers the decision allows (more than one only
    when two moves tie exactly, ``random_tie``); ``reason`` says why.
    """

    next_dc: Combo | None
    candidates: tuple[Combo | None, ...]
    random_tie: bool
    reason: str


@dataclass(frozen=True, slots=True)
class CombMtd:
    """The MTD combination(s) (empty: none) and the rounded isotonic estimates (rows = drug A)."""

    mtd: tuple[Combo, ...]
    p_est: tuple[tuple[float, ...], ...]


def _check_grid(npts: Matrix, ntox: Matrix) -> tuple[int, int]:
    """Validate the two count matrices; return their shape (rows, columns)."""
    rows = len(npts)
    require(rows >= 1 and len(npts[0]) >= 1, "npts", "needs at least one combination")
    cols = len(npts[0])
    require(all(len(r) == cols for r in npts), "npts", "rows differ in length")
    require(len(ntox) == rows and all(len(r) == cols for r in ntox), "ntox",
            f"must be {rows} x {cols} like npts")
    for i in range(rows):
        for j in range(cols):
            require(npts[i][j] >= 0, f"npts[{i}][{j}]", f"{npts[i][j]} patients is negative")
            require(0 <= ntox[i][j] <= npts[i][j], f"ntox[{i}][{j}]",
                    f"{ntox[i][j]} toxicities is outside 0..{npts[i][j]}")
    return rows, cols


# ---------------------------------------------------------------------------
# next.comb


def next_comb(
    target: float,
    npts: Matrix,
    ntox: Matrix,
    dose_curr: Sequence[int],
    *,
    n_earlystop: int = 100,
    p_saf: float | None = None,
    p_tox: float | None = None,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    rng: np.random.Generator,
) -> NextComb:
    """The next combination of a BOIN drug-combination trial (``BOIN::next.comb``).

    ``dose_curr`` is the (A, B) combination, 1-based, at which the last cohort
    was treated.  The trial terminates when ``n_earlystop`` patients have been
    treated there, or when (1, 1) is eliminated (or fails the extra-safe rule).
    """
    settings = boin_settings(target, p_saf, p_tox, cutoff_eli, offset)
    rows, cols = _check_grid(npts, ntox)
    require(n_earlystop >= 2, "n_earlystop", f"{n_earlystop}: BOIN's table needs at least 2 patients")
    require(len(dose_curr) == 2 and 1 <= dose_curr[0] <= rows and 1 <= dose_curr[1] <= cols,
            "dose_curr", f"{list(dose_curr)} is not a combination of the {rows} x {cols} grid")
    here = (int(dose_curr[0]), int(dose_curr[1]))
    n = npts[here[0] - 1][here[1] - 1]
    require(n > 0, "dose_curr", f"no patients were treated at {here}")
    table = _CombBoundaries(settings, min(NEXT_COMB_TABLE_SIZE, n_earlystop))
    if n >= n_earlystop:
        return _stop(f"{n} patients at {here} reached n_earlystop = {n_earlystop}: terminate")
    lowest_stop = _lowest_combination_stops(settings, table, npts, ntox, here, extrasafe)
    if lowest_stop:
        return _stop(lowest_stop)
    return _next_move(settings, table, npts, ntox, here, rng)


def _next_move(settings: BoinSettings, table: "_CombBoundaries", npts: Matrix, ntox: Matrix, here: Combo,
               rng: np.random.Generator) -> NextComb:
    """Escalate, de-escalate or stay by the single-agent boundaries at the current combination."""
    a, b = here[0] - 1, here[1] - 1
    n, y = npts[a][b], ntox[a][b]
    row = table.row(n)
    if row is None:
        raise InputError("npts", f"{n} patients at {here} is beyond BOIN's boundary table of {table.size}")
    if y <= row.escalate_if_le:
        eliminated = _eliminated(table, npts, ntox)
        moves = [(a + 1, b), (a, b + 1)]
        open_moves = [_can_escalate(settings, npts, ntox, (a, b), m, eliminated) for m in moves]
        return _move(settings, npts, ntox, here, moves, open_moves, rng,
                     f"{y}/{n} toxicities <= escalation boundary {row.escalate_if_le}: escalate")
    if y >= row.deescalate_if_ge:
        moves = [(a - 1, b), (a, b - 1)]
        open_moves = [i >= 0 and j >= 0 for i, j in moves]
        return _move(settings, npts, ntox, here, moves, open_moves, rng,
                     f"{y}/{n} toxicities >= de-escalation boundary {row.deescalate_if_ge}: de-escalate")
    return NextComb(here, (here,), False,
                    f"{y}/{n} toxicities between the boundaries {row.escalate_if_le} and "
                    f"{row.deescalate_if_ge}: stay at {here}")


class _CombBoundaries:
    """``next.comb``'s boundary table: rows for n = 1 … ``size``, none beyond (R's ``NA``)."""

    def __init__(self, settings: BoinSettings, size: int) -> None:
        self.settings = settings
        self.size = size

    def row(self, n: int) -> BoundaryRow | None:
        if not 1 <= n <= self.size:
            return None
        s = self.settings
        return boundary_at(n, s.target, s.p_saf, s.p_tox, s.cutoff_eli)

    def eliminates(self, n: int, y: int) -> bool:
        """Whether y toxicities among n patients meet the elimination boundary of the table."""
        row = self.row(n)
        return row is not None and row.eliminate_if_ge is not None and y >= row.eliminate_if_ge


def _stop(reason: str) -> NextComb:
    return NextComb(None, (None,), False, reason)


def _lowest_combination_stops(settings: BoinSettings, table: _CombBoundaries, npts: Matrix, ntox: Matrix,
                              here: Combo, extrasafe: bool) -> str | None:
    """Why the trial stops at (1, 1), if it does: eliminated, or too toxic for the extra-safe rule.

    As in ``next.comb``, both rules apply only at (1, 1) and only when the
    table has an elimination boundary for the patients treated there.
    """
    n, y = npts[0][0], ntox[0][0]
    row = table.row(n)
    if here != (1, 1) or row is None or row.eliminate_if_ge is None:
        return None
    if y >= row.eliminate_if_ge:
        return (f"{y}/{n} toxicities at (1, 1) >= elimination boundary {row.eliminate_if_ge}: "
                "the lowest combination is overly toxic: terminate")
    cutoff = settings.cutoff_eli - settings.offset
    if extrasafe and too_toxic(settings.target, y, n, cutoff):
        return (f"extra-safe rule: Pr(p > {settings.target} | {y}/{n} at (1, 1)) > {cutoff:g}: "
                "the lowest combination is overly toxic: terminate")
    return None


def _eliminated(table: _CombBoundaries, npts: Matrix, ntox: Matrix) -> set[tuple[int, int]]:
    """0-based cells eliminated by some combination at or below them in both drugs."""
    rows, cols = len(npts), len(npts[0])
    out: set[tuple[int, int]] = set()
    for i in range(rows):
        for j in range(cols):
            if npts[i][j] > 0 and table.eliminates(npts[i][j], ntox[i][j]):
                out.update((r, c) for r in range(i, rows) for c in range(j, cols))
    return out


def _can_escalate(settings: BoinSettings, npts: Matrix, ntox: Matrix, here: tuple[int, int],
                  move: tuple[int, int], eliminated: set[tuple[int, int]]) -> bool:
    """Whether escalation from 0-based ``here`` may go to the adjacent 0-based ``move``.

    The move must stay on the grid and avoid eliminated combinations.  As in
    ``BOIN::next.comb`` 2.7.2, it is also closed when some combination at the
    raised drug's new level, with the other drug at or below its current
    level, already shows an observed rate y/n ≥ λd (untested combinations
    count as 0): by monotonicity the move would be at least as toxic.
    """
    rows, cols = len(npts), len(npts[0])
    i, j = move
    if not (i < rows and j < cols) or move in eliminated:
        return False
    lambda_d = interval_boundaries(settings.target, settings.p_saf, settings.p_tox)[1]
    if i > here[0]:
        lower = [(i, c) for c in range(here[1] + 1)]
    else:
        lower = [(r, j) for r in range(here[0] + 1)]
    return not any(ntox[r][c] / max(npts[r][c], 1) >= lambda_d for r, c in lower)


def _move(settings: BoinSettings, npts: Matrix, ntox: Matrix, here: Combo, moves: list[tuple[int, int]],
          open_moves: list[bool], rng: np.random.Generator, why: str) -> NextComb:
    """Choose among adjacent 0-based ``moves`` by Pr(λe < p < λd) + 0.0005·n (Lin & Yin 2017).

    Closed moves score 0; if every move scores 0 the trial stays.  Exact ties
    are drawn with ``rng``.
    """
    scores = [_interval_score(settings, ntox[i][j], npts[i][j]) if is_open else 0.0
              for (i, j), is_open in zip(moves, open_moves)]
    best = max(scores)
    if best == 0:
        return NextComb(here, (here,), False, f"{why}, but no adjacent combination is open: stay at {here}")
    tied = tuple((moves[k][0] + 1, moves[k][1] + 1) for k, s in enumerate(scores) if s == best)
    choice = tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]
    how = "tied moves drawn at random" if len(tied) > 1 else "highest Pr(toxicity in the target interval)"
    return NextComb(choice, tied, len(tied) > 1, f"{why} to {choice} ({how})")


def _interval_score(settings: BoinSettings, y: int, n: int) -> float:
    """Pr(λe < p < λd | y, n) under Beta(y + 0.5, n − y + 0.5), plus 0.0005·n."""
    lambda_e, lambda_d = interval_boundaries(settings.target, settings.p_saf, settings.p_tox)
    a, b = y + 0.5, n - y + 0.5
    return (float(betainc(a, b, lambda_d)) - float(betainc(a, b, lambda_e))) + n * INFORMATION_BONUS


# ---------------------------------------------------------------------------
# select.mtd.comb


def select_mtd_comb(
    target: float,
    npts: Matrix,
    ntox: Matrix,
    *,
    cutoff_eli: float = 0.95,
    extrasafe: bool = False,
    offset: float = 0.05,
    bound_mtd: bool = False,
    p_tox: float | None = None,
    mtd_contour: bool = False,
) -> CombMtd:
    """The MTD combination(s) of ``BOIN::select.mtd.comb`` (Lin & Yin 2017; Zhang & Yuan 2016).

    Matrices must have at least 2 rows, and no more rows than columns (R's
    requirement; rotate the grid otherwise).
    """
    require(0.0 < target < 1.0, "target", f"{target} is not strictly between 0 and 1")
    require(0.0 < cutoff_eli < 1.0, "cutoff_eli", f"{cutoff_eli} is not strictly between 0 and 1")
    require(0.0 <= offset < 0.5, "offset", f"{offset} is outside [0, 0.5)")
    rows, cols = _check_grid(npts, ntox)
    require(2 <= rows <= cols, "npts",
            f"a {rows} x {cols} grid: needs 2 or more rows and no more rows than columns")
    p_tox = 1.4 * target if p_tox is None else p_tox
    if bound_mtd:
        require(target < p_tox < 1.0, "p_tox", f"{p_tox} is not between the target {target} and 1")
    estimates = [[r_round(v, 2) for v in row] for row in _isotonic_estimates(npts, ntox)]
    p_est = tuple(tuple(row) for row in estimates)
    eliminated = _comb_eliminated(target, npts, ntox, cutoff_eli, extrasafe, offset)
    if eliminated[0][0]:
        return CombMtd((), p_est)
    lambda_d = deescalation_boundary(target, p_tox) if bound_mtd else None
    scores = _selection_scores(estimates, npts, eliminated, lambda_d)
    if scores is None:
        return CombMtd((), p_est)
    if mtd_contour:
        return CombMtd(_contour(target, scores, npts, eliminated), p_est)
    return CombMtd((_closest_cell(target, scores),), p_est)


def _isotonic_estimates(npts: Matrix, ntox: Matrix) -> list[list[float]]:
    """Bivariate isotonic regression of (y + 0.05)/(n + 0.1) with weights n + 0.1 (all cells)."""
    values = [[(y + 0.05) / (n + 0.1) for n, y in zip(nr, yr)] for nr, yr in zip(npts, ntox)]
    weights = [[n + 0.1 for n in nr] for nr in npts]
    return biviso(values, weights)


def _comb_eliminated(target: float, npts: Matrix, ntox: Matrix, cutoff_eli: float, extrasafe: bool,
                     offset: float) -> list[list[bool]]:
    """``select.mtd.comb``'s elimination marks.

    In each row, the first combination with n ≥ 3 and Pr(p > φ) >
    ``cutoff_eli`` is eliminated together with the rest of its row and the
    rest of its column (not the whole quadrant above it, unlike
    ``next.comb``).  The extra-safe rule on (1, 1) marks every combination.
    """
    rows, cols = len(npts), len(npts[0])
    all_out = extrasafe and too_toxic(target, ntox[0][0], npts[0][0], cutoff_eli - offset)
    out = [[all_out] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            if too_toxic(target, ntox[i][j], npts[i][j], cutoff_eli):
                for r in range(i, rows):
                    out[r][j] = True
                for c in range(j, cols):
                    out[i][c] = True
                break
    return out


def _selection_scores(estimates: list[list[float]], npts: Matrix, eliminated: list[list[bool]],
                      lambda_d: float | None) -> list[list[float]] | None:
    """The rounded estimates as ``select.mtd.comb`` compares them with the target.

    Eliminated cells count as 1.1, untested ones as 10 (never chosen), and
    (i + j)·1e-5 breaks ties towards lower combinations.  With the MTD bounded
    by λd, cells at or above λd count as 10, and there is no MTD (``None``)
    when every tested cell is there.
    """
    rows, cols = len(npts), len(npts[0])
    scores = [[(ELIMINATED_MARK if eliminated[i][j] else estimates[i][j]) * (npts[i][j] != 0)
               + COMB_TIE_BREAK * ((i + 1) + (j + 1)) for j in range(cols)] for i in range(rows)]
    if lambda_d is not None:
        if all(scores[i][j] >= lambda_d for i in range(rows) for j in range(cols) if npts[i][j] != 0):
            return None
        scores = [[EXCLUDED_MARK if s >= lambda_d else s for s in row] for row in scores]
    return [[EXCLUDED_MARK if npts[i][j] == 0 else scores[i][j] for j in range(cols)] for i in range(rows)]


def _closest_cell(target: float, scores: list[list[float]]) -> Combo:
    """The cell closest to the target; the first in column-major order on exact ties (R's ``which``)."""
    rows, cols = len(scores), len(scores[0])
    cells = [(i, j) for j in range(cols) for i in range(rows)]
    distances = [abs(scores[i][j] - target) for i, j in cells]
    i, j = cells[distances.index(min(distances))]
    return i + 1, j + 1


def _contour(target: float, scores: list[list[float]], npts: Matrix,
             eliminated: list[list[bool]]) -> tuple[Combo, ...]:
    """One MTD per level of drug A, from the highest level down (Zhang & Yuan 2016).

    Each row's MTD is its admissible (tested, non-eliminated) combination
    closest to the target.  A row gets none when its first combination is
    eliminated, when the next higher level of drug A took the highest level of
    drug B, or when ``select.mtd.comb``'s check ``sum(n[kelimi == 0]) == 0``
    holds: R indexes the whole matrix with the row's mask, recycled over the
    column-major cells, and this reproduces that.
    """
    rows, cols = len(npts), len(npts[0])
    picks: list[int | None] = [None] * rows
    for k in range(rows - 1, -1, -1):
        pick: int | None = None
        if not eliminated[k][0] and _recycled_open_patients(npts, eliminated[k]) > 0:
            admissible = [j for j in range(cols) if npts[k][j] != 0 and not eliminated[k][j]]
            if admissible:
                distances = [abs(scores[k][j] - target) for j in admissible]
                pick = admissible[distances.index(min(distances))]
        if k < rows - 1 and picks[k + 1] == cols - 1:
            pick = None
        picks[k] = pick
    return tuple((k + 1, pick + 1) for k, pick in enumerate(picks) if pick is not None)


def _recycled_open_patients(npts: Matrix, row_eliminated: list[bool]) -> int:
    """R's ``sum(n[kelimi == 0])``: the row's mask recycled over the column-major cells of n."""
    rows, cols = len(npts), len(npts[0])
    return sum(npts[m % rows][m // rows] for m in range(rows * cols) if not row_eliminated[m % cols])


# ---------------------------------------------------------------------------
# Numerical helpers


def r_round(x: float, digits: int) -> float:
    """R's ``round(x, digits)`` (R ≥ 4.0.0): the nearer of x rounded down or up, ties to even."""
    if x == 0.0 or not math.isfinite(x):
        return x
    sign = -1.0 if x < 0 else 1.0
    x = abs(x)
    if math.log10(2) * (0.5 + math.frexp(x)[1] - 1) + digits > 15:
        return sign * x
    scale = 10.0 ** digits
    x10 = x * scale
    low = math.floor(x10)
    down, up = low / scale, math.ceil(x10) / scale
    du, dd = up - x, x - down
    return sign * (up if du < dd or (du == dd and low % 2 == 1) else down)


def biviso(values: list[list[float]], weights: list[list[float]], *, eps: float = 2.0 ** -26,
           eps_pava: float = 1e-9, max_half_steps: int = 50000) -> list[list[float]]:
    """Weighted isotonic regression non-decreasing along rows and columns (AS 206).

    Dykstra & Robertson's (1982) iterative projection as Bril, Dykstra,
    Pillers & Robertson (1984) implement it: alternately project every row
    and every column onto the monotone cone (weighted PAVA), each time first
    removing that direction's previous correction (Dykstra's increments).
    Two trial sweeps decide whether to start with columns or rows (the
    direction whose first correction is larger goes first); the iteration ends
    after the first half-step (other than the very first) in which no value
    moved by ``eps`` or more.  Defaults are ``Iso::biviso``'s (``eps`` =
    sqrt(machine epsilon), PAVA violations below 1e-9 ignored).  All weights
    must be at least 1e-5 (AS 206 would otherwise replace them).
    """
    rows, cols = len(values), len(values[0])
    columns_first = (_trial_correction(values, weights, eps_pava, columns_first=False)
                     > _trial_correction(values, weights, eps_pava, columns_first=True))
    fit = [row[:] for row in values]
    corrections = {False: _zeros(rows, cols), True: _zeros(rows, cols)}
    by_columns = columns_first
    for step in range(max_half_steps):
        moved = _project(fit, corrections[by_columns], weights, eps_pava, by_columns)
        if step > 0 and moved < eps:
            return fit
        by_columns = not by_columns
    raise ArithmeticError(f"bivariate isotonic regression did not converge in {max_half_steps} steps")


def _trial_correction(values: list[list[float]], weights: list[list[float]], eps_pava: float,
                      columns_first: bool) -> float:
    """Σ(correction)² of the second half-step of a trial sweep (AS 206's DELC or DELR)."""
    fit = [row[:] for row in values]
    rows, cols = len(values), len(values[0])
    first, second = _zeros(rows, cols), _zeros(rows, cols)
    _project(fit, first, weights, eps_pava, columns_first)
    _project(fit, second, weights, eps_pava, not columns_first)
    total = 0.0
    for row in second:
        for v in row:
            total += v * v
    return total


def _project(fit: list[list[float]], correction: list[list[float]], weights: list[list[float]],
             eps_pava: float, by_columns: bool) -> float:
    """Project every row (or column) with Dykstra's correction, in place; the largest change."""
    rows, cols = len(fit), len(fit[0])
    lines = [[(i, j) for i in range(rows)] for j in range(cols)] if by_columns else \
        [[(i, j) for j in range(cols)] for i in range(rows)]
    moved = 0.0
    for cells in lines:
        start = [fit[i][j] - correction[i][j] for i, j in cells]
        ordered = _pav([weights[i][j] for i, j in cells], start, eps_pava)
        for (i, j), s, o in zip(cells, start, ordered):
            correction[i][j] = o - s
            moved = max(moved, abs(o - fit[i][j]))
            fit[i][j] = o
    return moved


def _pav(weights: list[float], values: list[float], eps: float) -> list[float]:
    """AS 206.1: pool adjacent blocks whose values decrease by more than ``eps``, left to right."""
    blocks = [[w * v, w, v, 1] for w, v in zip(weights, values)]
    while True:
        i = 0
        while i < len(blocks) - 1:
            if blocks[i][2] - blocks[i + 1][2] <= eps:
                i += 1
                continue
            nxt = blocks.pop(i + 1)
            blocks[i][0] += nxt[0]
            blocks[i][1] += nxt[1]
            blocks[i][2] = blocks[i][0] / blocks[i][1]
            blocks[i][3] += nxt[3]
        if all(blocks[k][2] - blocks[k + 1][2] <= eps for k in range(len(blocks) - 1)):
            return [block[2] for block in blocks for _ in range(int(block[3]))]


def _zeros(rows: int, cols: int) -> list[list[float]]:
    return [[0.0] * cols for _ in range(rows)]
