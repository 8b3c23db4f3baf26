"""Per-event uncertainties validated against the truth: where the exact posterior p* is
known, an ensemble's spread can be checked against the error it should describe,
|mean - p*|, event by event.

- coverage: the fraction of events whose p* lies within k spreads of the ensemble mean,
  against the Gaussian expectation erf(k / sqrt 2) (68.3%, 95.4%, 99.7% at k = 1, 2, 3);
- the factor by which the spread would have to be scaled to cover 68.3% of the events
  (1 for an honest spread, above 1 when it under-covers);
- Spearman's rank correlation between spread and error: does a larger spread flag a
  larger error?

References: B. Lakshminarayanan, A. Pritzel and C. Blundell, Simple and scalable predictive
uncertainty estimation using deep ensembles, NeurIPS 2017; B. Efron, Bootstrap methods,
Ann. Statist. 7 (1979) 1 (bootstrap ensembles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

#: The k of the coverage curve (multiples of the spread).
COVERAGE_K = np.round(np.linspace(0.0, 5.0, 51), 2)
ONE_SIGMA = float(special.erf(1.0 / np.sqrt(2.0)))


def coverage(mean: NDArray, spread: NDArray, p_star: NDArray) -> dict[str, Any]:
    """How well the per-event ``spread`` of an ensemble describes its true error."""
    error = np.abs(np.asarray(mean, dtype=float) - np.asarray(p_star, dtype=float))
    spread = np.asarray(spread, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(spread > 0, error / spread, np.where(error > 0, np.inf, 0.0))
    fraction = [float(np.mean(pull <= k)) for k in COVERAGE_K]
    rho = stats.spearmanr(spread, error).statistic
    return {
        "coverage_k": COVERAGE_K.tolist(),
        "coverage": fraction,
        **{f"coverage_{k}": float(np.mean(pull <= k)) for k in (1, 2, 3)},
        "spread_scale_68": float(np.quantile(pull, ONE_SIGMA)),
        "spearman_spread_error": float(rho),
        "mean_error": float(error.mean()),
        "mean_spread": float(spread.mean()),
        "median_pull": float(np.median(pull)),
    }
