"""Per-event uncertainties validated against the truth: where the exact posterior p* is
known, an ensemble's spread can be checked against the error it should describe,
|mean - p*|, event by event.

- coverage: the fraction of events whose p* lies within k spreads (the standard deviation
  across the M members) of the ensemble mean, against what an honest ensemble gives: for
  M members scattered without bias and independently around p*, |mean - p*| / spread
  follows |t_{M-1}| / sqrt(M) (Student's t), so the coverage at k is
  2 F_t(k sqrt(M); M - 1) - 1 (86%, 97%, 99% at k = 1, 2, 3 for M = 4). A shared bias of
  the members, which no spread shows, pulls the curve below it;
- the factor by which the spread would have to be scaled for the honest reference's 68.3%
  coverage (1 for an honest ensemble, above 1 when it under-covers);
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


def honest_coverage(k: NDArray | float, members: int) -> NDArray:
    """Coverage at k spreads of an ensemble of ``members`` unbiased, independent members:
    P(|t_{M-1}| <= k sqrt(M))."""
    return 2.0 * stats.t.cdf(np.asarray(k, dtype=float) * np.sqrt(members), members - 1) - 1.0


def coverage(mean: NDArray, spread: NDArray, p_star: NDArray, members: int) -> dict[str, Any]:
    """How well the per-event ``spread`` (standard deviation across ``members``) of an
    ensemble describes the true error of its ``mean``, against an honest ensemble's."""
    if members < 2:
        raise ValueError(f"an ensemble needs at least 2 members for a spread, got {members}")
    error = np.abs(np.asarray(mean, dtype=float) - np.asarray(p_star, dtype=float))
    spread = np.asarray(spread, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(spread > 0, error / spread, np.where(error > 0, np.inf, 0.0))
    honest_68 = float(stats.t.ppf(0.5 + ONE_SIGMA / 2.0, members - 1) / np.sqrt(members))
    return {
        "coverage_k": COVERAGE_K.tolist(),
        "coverage": [float(np.mean(pull <= k)) for k in COVERAGE_K],
        "coverage_honest": honest_coverage(COVERAGE_K, members).tolist(),
        **{f"coverage_{k}": float(np.mean(pull <= k)) for k in (1, 2, 3)},
        **{f"coverage_honest_{k}": float(honest_coverage(k, members)) for k in (1, 2, 3)},
        "spread_scale_68": float(np.quantile(pull, ONE_SIGMA)) / honest_68,
        "spearman_spread_error": float(stats.spearmanr(spread, error).statistic),
        "mean_error": float(error.mean()),
        "mean_spread": float(spread.mean()),
        "median_pull": float(np.median(pull)),
    }
