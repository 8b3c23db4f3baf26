"""Classifier metrics shared by every evaluation: ROC AUC with a bootstrap confidence
interval (scikit-learn's AUC, SciPy's bootstrap)."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score


def auc_with_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray | None = None,
    n_resamples: int = 100,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """ROC AUC and its percentile-bootstrap confidence interval (events resampled, paired).

    The percentile method keeps the cost at ``n_resamples`` AUC evaluations (BCa would add
    a jackknife over every event); 100 resamples estimate a 95% interval's ends to about
    10% of its width.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)

    def statistic(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
        return float(roc_auc_score(y, s, sample_weight=w))

    result = stats.bootstrap(
        (labels, scores, weights),
        statistic,
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        batch=10,  # bounds memory: resamples are materialised this many at a time
        rng=np.random.default_rng(seed),
    )
    return {
        "auc": statistic(labels, scores, weights),
        "auc_low": float(result.confidence_interval.low),
        "auc_high": float(result.confidence_interval.high),
        "auc_std": float(result.standard_error),
    }
