"""Recalibration of predicted intervals on held-out data so that they hold their nominal
coverage for every value of the truth (frequentist coverage, as a Neyman construction
gives), not only on average over the prior or in cells of the prediction.

The ingredient is the probability integral transform (PIT) of each calibration pulse: the
predicted CDF at its truth, uniform where the prediction is calibrated. Two constructions:

- **The target's own truth** (the amplitude in cells of the true amplitude): in each cell
  of the truth the PIT's quantiles at :data:`GRID` give the levels l(a), interpolated in
  log a between the cells' centres; the interval is {a : l_lo(a) <= F(a) <= l_hi(a)}, a
  confidence belt ordered by the PIT (J. Neyman, Phil. Trans. R. Soc. A 236, 1937). Its
  endpoints solve F(a) = l(a) (:func:`mlhep.evaluation.regression.mixture_quantiles`
  with a level that is a function of the value).
- **Another variable's truth** (t0 in cells of the true amplitude, which a t0 interval
  cannot see): one level curve per cell of the *prediction*, solved so that every cell of
  the truth holds nominal coverage on the calibration pulses (:func:`solve_levels`); where
  the predictions barely tell the truth's cells apart and the solve leaves them further
  from nominal, the prediction cells' own levels (:func:`truth_conditional_levels`).

Per-cell quantile recalibration is V. Kuleshov, N. Fenner and S. Ermon, ICML 2018; cells
as in Mondrian conformal prediction (V. Vovk et al., Algorithmic learning in a random
world, 2005).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The probabilities at which each cell keeps its levels (the recalibrated CDF's inverse,
#: interpolated linearly between them).
GRID = np.linspace(0.0, 1.0, 201)
#: The fewest calibration pulses a cell takes (fewer pulses: fewer cells): a 95% interval's
#: tails then rest on a dozen pulses each.
MIN_PULSES = 500


def equal_count_edges(values: np.ndarray, cells: int) -> np.ndarray:
    """The ``cells - 1`` inner edges that split ``values`` into cells of equal counts."""
    return np.quantile(values, np.linspace(0.0, 1.0, cells + 1)[1:-1])


def cell_levels(pit: np.ndarray, cell: np.ndarray, cells: int) -> np.ndarray:
    """Per cell (``(cells, len(GRID))``), the PIT's quantiles at :data:`GRID`: the nominal
    probability p maps to the level below which a fraction p of that cell's truths lie. An
    empty cell keeps the identity."""
    levels = np.tile(GRID, (cells, 1))
    for c in np.unique(cell):
        levels[c] = np.quantile(pit[cell == c], GRID)
    return levels


def solve_levels(
    pit: np.ndarray,
    truth_cell: np.ndarray,
    prediction_cell: np.ndarray,
    cells: int,
    sweeps: int = 1000,
    tolerance: float = 1e-4,
) -> tuple[np.ndarray, float]:
    """Levels per cell of the prediction (``(cells, len(GRID))``) such that in every cell
    of the truth the fraction of PITs below their own cell's level at p is p, for every p
    of :data:`GRID`: per p, ``cells`` equations in ``cells`` unknowns, each count
    increasing in its unknown, solved by Gauss-Seidel sweeps (truth cell c sets
    prediction cell c's level, the others held; well posed where most of a truth cell's
    pulses are in its own prediction cell). Starts from :func:`cell_levels` of the
    prediction cells; stops when a sweep changes no level by more than ``tolerance``.
    Returns the sweep's levels whose largest deviation of a truth cell's fraction from p
    is least, and that deviation (0 where the system is solved; more where a cell's own
    pulses cannot make up what its neighbours give, or its prediction cell is empty)."""
    sorted_pits = {
        (t, p): np.sort(pit[(truth_cell == t) & (prediction_cell == p)])
        for t in range(cells)
        for p in range(cells)
    }
    in_truth_cell = np.bincount(truth_cell, minlength=cells)

    def below(t: int, p: int, level: np.ndarray) -> np.ndarray:
        return np.searchsorted(sorted_pits[t, p], level, side="right")

    def deviation(levels: np.ndarray) -> float:
        fractions = [
            sum(below(t, p, levels[p]) for p in range(cells)) / in_truth_cell[t]
            for t in np.flatnonzero(in_truth_cell)
        ]
        return float(np.abs(np.array(fractions) - GRID).max())

    levels = cell_levels(pit, prediction_cell, cells)
    best = (deviation(levels), levels.copy())
    for _ in range(sweeps):
        previous = levels.copy()
        for c in range(cells):
            own = sorted_pits[c, c]
            if len(own) == 0:
                continue
            others = sum(below(c, p, levels[p]) for p in range(cells) if p != c)
            wanted = (GRID * in_truth_cell[c] - others) / len(own)
            level = np.quantile(own, np.clip(wanted, 0.0, 1.0))
            # none of its own pulses below, or all: the level leaves them all out or in
            level = np.where(wanted <= 0.0, 0.0, np.where(wanted >= 1.0, 1.0, level))
            levels[c] = np.maximum.accumulate(level)
        best = min(best, (deviation(levels), levels.copy()), key=lambda pair: pair[0])
        if np.abs(levels - previous).max() < tolerance:
            break
    return best[1], best[0]


def central_coverage(
    pit: np.ndarray,
    level_cell: np.ndarray,
    levels: np.ndarray,
    group: np.ndarray,
    cells: int,
    contents: Sequence[float],
) -> np.ndarray:
    """Per content (rows) and cell of ``group`` (columns; NaN where empty), the fraction
    of PITs inside the central interval that their ``level_cell``'s levels give."""
    out = np.full((len(contents), cells), np.nan)
    for row, content in enumerate(contents):
        lo = level_at(levels, 0.5 * (1.0 - content))[level_cell]
        hi = level_at(levels, 0.5 * (1.0 + content))[level_cell]
        inside = (pit >= lo) & (pit <= hi)
        for c in np.unique(group):
            out[row, c] = inside[group == c].mean()
    return out


def truth_conditional_levels(
    pit: np.ndarray,
    truth_cell: np.ndarray,
    prediction_cell: np.ndarray,
    cells: int,
    contents: Sequence[float],
) -> tuple[np.ndarray, float, bool]:
    """Levels per cell of the prediction for a target whose coverage is wanted per cell of
    another variable's truth: :func:`solve_levels`'s, or where they leave a truth cell
    further from nominal for the central ``contents`` (an ill-posed system: predictions
    that barely tell the truth cells apart), the prediction cells' own
    (:func:`cell_levels`). Returns the levels, their largest deviation from nominal
    coverage in a truth cell for those contents, and whether they are the solved ones."""
    nominal = np.asarray(contents)[:, None]
    candidates = []
    for solved, levels in (
        (True, solve_levels(pit, truth_cell, prediction_cell, cells)[0]),
        (False, cell_levels(pit, prediction_cell, cells)),
    ):
        coverage = central_coverage(pit, prediction_cell, levels, truth_cell, cells, contents)
        candidates.append((float(np.nanmax(np.abs(coverage - nominal))), not solved, levels))
    deviation, unsolved, levels = min(candidates, key=lambda c: c[:2])
    return levels, deviation, not unsolved


def level_at(levels: np.ndarray, probability: float) -> np.ndarray:
    """Each cell's level for the nominal ``probability`` (``(cells,)``)."""
    return np.array([np.interp(probability, GRID, row) for row in levels])
