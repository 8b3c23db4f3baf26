"""Recalibrated intervals against a known truth: levels per cell of the prediction solved so
that every cell of the truth holds nominal coverage (:mod:`mlhep.models.interval_calibration`)."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from mlhep.models import interval_calibration as calibration

CELLS = 4
#: Central intervals' tails: 68% and 95%.
TAILS = ((0.15865, 0.84135), (0.02275, 0.97725))


def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A truth a ~ U(0, 1), its noisy prediction, and the PIT of a second variable whose
    error grows with the truth (sigma 0.5 + 1.5a) while its predicted CDF is N(0, 1)."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.0, 1.0, n)
    predicted = truth + rng.normal(0.0, 0.1, n)
    pit = ndtr(rng.normal(0.0, 0.5 + 1.5 * truth))
    return truth, predicted, pit


def coverage_per_truth_cell(
    levels: np.ndarray, truth: np.ndarray, predicted: np.ndarray, pit: np.ndarray, edges: tuple
) -> np.ndarray:
    """Per nominal content (rows) and cell of the truth (columns), the fraction of PITs
    inside their prediction cell's recalibrated central interval."""
    truth_edges, prediction_edges = edges
    cell, truth_cell = np.digitize(predicted, prediction_edges), np.digitize(truth, truth_edges)
    out = []
    for lo, hi in TAILS:
        inside = (pit >= calibration.level_at(levels, lo)[cell]) & (
            pit <= calibration.level_at(levels, hi)[cell]
        )
        out.append([inside[truth_cell == c].mean() for c in range(CELLS)])
    return np.array(out)


def test_solved_levels_give_every_truth_cell_its_coverage() -> None:
    truth, predicted, pit = sample(40_000, 1)
    edges = (
        calibration.equal_count_edges(truth, CELLS),
        calibration.equal_count_edges(predicted, CELLS),
    )
    truth_cell, cell = np.digitize(truth, edges[0]), np.digitize(predicted, edges[1])
    nominal = np.array([[hi - lo] for lo, hi in TAILS])
    # quantile recalibration per prediction cell: nominal there, not per truth cell
    plain = calibration.cell_levels(pit, cell, CELLS)
    for c in range(CELLS):
        for (lo, hi), content in zip(TAILS, nominal[:, 0], strict=True):
            inside = (pit >= calibration.level_at(plain, lo)[c]) & (
                pit <= calibration.level_at(plain, hi)[c]
            )
            assert abs(inside[cell == c].mean() - content) < 0.002
    off = coverage_per_truth_cell(plain, truth, predicted, pit, edges)
    assert np.abs(off - nominal).max() > 0.03, off
    # solved: every truth cell nominal on these pulses; on many fresh ones within 3
    # standard deviations of the levels' own noise (10,000 pulses a cell: 0.3-0.6 points
    # at 68%, 0.2 at 95%, measured over 8 calibration samples)
    levels, deviation = calibration.solve_levels(pit, truth_cell, cell, CELLS)
    assert deviation < 0.02, deviation
    assert (np.diff(levels, axis=1) >= 0).all() and (levels[:, [0, -1]] == [0.0, 1.0]).all()
    on_calibration = coverage_per_truth_cell(levels, truth, predicted, pit, edges)
    np.testing.assert_allclose(on_calibration, np.broadcast_to(nominal, off.shape), atol=0.002)
    fresh = coverage_per_truth_cell(levels, *sample(400_000, 2), edges)
    np.testing.assert_allclose(fresh[0], nominal[0, 0], atol=0.02)
    np.testing.assert_allclose(fresh[1], nominal[1, 0], atol=0.007)
    assert np.abs(fresh - nominal).max() < np.abs(off - nominal).max() / 2


def test_one_cell_is_plain_quantile_recalibration() -> None:
    pit = sample(5000, 3)[2]
    zeros = np.zeros(len(pit), dtype=int)
    levels, deviation = calibration.solve_levels(pit, zeros, zeros, 1)
    expected = np.quantile(pit, calibration.GRID)
    np.testing.assert_allclose(levels[0, 1:-1], expected[1:-1], atol=1e-3)
    assert deviation <= 1.0 / len(pit) + 1e-12
