"""ROC AUC with a bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlhep.evaluation.metrics import auc_with_ci


def _gaussian_scores(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n)
    return labels, rng.normal(0, 1, 2 * n) + shift * labels


def test_auc_matches_closed_form_and_interval_covers_it() -> None:
    labels, scores = _gaussian_scores(10_000, 1.0, seed=3)
    result = auc_with_ci(labels, scores, n_resamples=200, seed=1)
    exact = stats.norm.cdf(1.0 / np.sqrt(2))  # AUC of two unit Gaussians one sigma apart
    assert result["auc_low"] < result["auc"] < result["auc_high"]
    assert result["auc_low"] < exact < result["auc_high"]
    # Hanley & McNeil (1982) standard error for equal class sizes
    a, n = exact, 10_000
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    hanley = np.sqrt((a * (1 - a) + (n - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (n * n))
    assert result["auc_std"] == pytest.approx(hanley, rel=0.25)


def test_bootstrap_is_seeded_and_class_constant_weights_do_not_change_auc() -> None:
    labels, scores = _gaussian_scores(2_000, 0.5, seed=4)
    weights = np.where(labels == 1, 0.01, 3.0)
    a = auc_with_ci(labels, scores, weights, n_resamples=100, seed=7)
    b = auc_with_ci(labels, scores, weights, n_resamples=100, seed=7)
    c = auc_with_ci(labels, scores, n_resamples=100, seed=7)
    assert a == b
    assert a["auc"] == pytest.approx(c["auc"], rel=1e-12)
