"""Classifier metrics shared by every evaluation: the ROC AUC with a bootstrap interval,
paired bootstrap intervals of AUC differences (the gap to the limit), and DeLong's test
for two correlated ROC AUCs.

The point estimates are scikit-learn's ``roc_auc_score``. The bootstrap replicates sort each
score once: a resample of the events is a vector of counts per event
(:func:`resampled_counts`), and the weighted AUC of any count vector is then a gather and
a cumulative sum in score order, O(n) instead of a sort per resample. The same counts serve
every score of a paired comparison, so the interval of a difference is that of a paired
bootstrap.

References: B. Efron and R. Tibshirani, An Introduction to the Bootstrap (1993), ch. 13
(percentile intervals); E. R. DeLong, D. M. DeLong and D. L. Clarke-Pearson, Biometrics 44
(1988) 837 (correlated AUCs); X. Sun and W. Xu, IEEE Signal Process. Lett. 21 (2014) 1389
(the fast midrank algorithm).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class TieGroups:
    """One score vector sorted once: the ascending order of its events and, where scores
    tie, the group of equal scores of each event in that order (``None`` without ties)."""

    order: NDArray[np.intp]
    group: NDArray[np.intp] | None

    @staticmethod
    def of(scores: NDArray[np.floating]) -> TieGroups:
        """Sort ``scores`` and find their ties."""
        scores = np.asarray(scores)
        order = np.argsort(scores, kind="stable")
        ordered = scores[order]
        new = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.ones(0, bool)
        return TieGroups(order, None if new.all() else np.cumsum(new) - 1)

    @functools.cached_property
    def ends(self) -> NDArray[np.intp]:
        """Position of the last event of each tie group in score order: found once, not per
        resample (it does not depend on the weights)."""
        assert self.group is not None
        return np.r_[np.flatnonzero(np.diff(self.group)), len(self.group) - 1]

    def auc(
        self, signal_weight: NDArray[np.floating], background_weight: NDArray[np.floating]
    ) -> float:
        """Weighted ROC AUC, ties counting one half: P(score_S > score_B) + P(=) / 2 with
        each event's weight split into its signal and background parts (original order)."""
        return self.sorted_auc(signal_weight[self.order], background_weight[self.order])

    def sorted_auc(
        self,
        signal: NDArray[np.floating],
        background: NDArray[np.floating],
        work: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    ) -> float:
        """:meth:`auc` of weights already in ascending score order; ``work``, two float
        arrays of the events' length, takes the intermediate sums (a bootstrap reuses them
        rather than allocating them per resample)."""
        through, below_half = (
            (np.empty(len(signal)), np.empty(len(signal))) if work is None else work
        )
        np.cumsum(background, out=through)  # background weight at or below each event
        if self.group is None:
            np.subtract(through, np.multiply(0.5, background, out=below_half), out=below_half)
        else:  # an event sees its whole tie group at one half
            group_end = through[self.ends]
            group_start = np.r_[0.0, group_end[:-1]]
            np.take(0.5 * (group_start + group_end), self.group, out=below_half)
        return float(signal @ below_half / (signal.sum() * through[-1]))


def resampled_counts(n: int, n_resamples: int, seed: int) -> Iterator[NDArray[np.intp]]:
    """``n_resamples`` bootstrap resamples of ``n`` events, each as the number of times
    every event is drawn (rows drawn with replacement; seeded)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        yield np.bincount(rng.integers(0, n, n), minlength=n)


def percentile_interval(values: NDArray, level: float) -> tuple[float, float]:
    """Central percentile interval of bootstrap replicates at confidence ``level``."""
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_bootstrap(
    labels: NDArray,
    scores: Mapping[str, NDArray],
    weights: NDArray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, NDArray]:
    """AUC replicates of every score over the same resampled events (rows resampled with
    replacement, ``n_resamples`` times): name -> array of ``n_resamples`` AUCs. The
    replicates of two scores are paired: their difference is the bootstrap of the gap."""
    labels = np.asarray(labels)
    n = len(labels)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    ws, wb = w * (labels == 1), w * (labels != 1)
    groups = {name: TieGroups.of(s) for name, s in scores.items()}
    ordered = {name: (ws[g.order], wb[g.order]) for name, g in groups.items()}
    out = {name: np.empty(n_resamples) for name in scores}
    # per resample the same arrays: allocated once (fresh ones cost page faults at 1e6+)
    signal, background, through, below_half = (np.empty(n) for _ in range(4))
    for r, counts in enumerate(resampled_counts(n, n_resamples, seed)):
        # the counts in the narrowest integer type that holds them (uint8 in practice): the
        # gather into each score's order, random access that leaves the cache from about 1e5
        # events, then moves an eighth of the bytes; the products are the same numbers
        narrow = counts.astype(np.min_scalar_type(counts.max(initial=0)))
        for name, g in groups.items():
            c = narrow[g.order]
            np.multiply(ordered[name][0], c, out=signal)
            np.multiply(ordered[name][1], c, out=background)
            out[name][r] = g.sorted_auc(signal, background, (through, below_half))
    return out


def _summary(name: str, value: float, replicates: NDArray, level: float) -> dict[str, float]:
    """A statistic with its percentile interval and bootstrap standard error."""
    low, high = percentile_interval(replicates, level)
    return {
        name: value,
        f"{name}_low": low,
        f"{name}_high": high,
        f"{name}_std": float(replicates.std(ddof=1)),
    }


def auc_with_ci(
    labels: NDArray,
    scores: NDArray,
    weights: NDArray | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """ROC AUC and its percentile-bootstrap confidence interval (events resampled)."""
    reps = paired_bootstrap(labels, {"s": scores}, weights, n_resamples, seed)["s"]
    return _summary("auc", float(roc_auc_score(labels, scores, sample_weight=weights)), reps, level)


def paired_gap(
    labels: NDArray,
    reference: NDArray,
    scores: NDArray,
    weights: NDArray | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """AUC(reference) - AUC(scores) on the same events, with its paired bootstrap interval
    (``gap``, ``gap_low``, ``gap_high``, ``gap_std``), and the AUC of ``scores`` with its
    own interval from the same resamples."""
    reps = paired_bootstrap(labels, {"ref": reference, "s": scores}, weights, n_resamples, seed)
    auc = float(roc_auc_score(labels, scores, sample_weight=weights))
    gap = float(roc_auc_score(labels, reference, sample_weight=weights)) - auc
    return {
        **_summary("auc", auc, reps["s"], level),
        **_summary("gap", gap, reps["ref"] - reps["s"], level),
    }


def limit_verdict(gap_low: float, gap_high: float) -> str:
    """What a paired interval of (limit AUC - classifier AUC) says about the classifier."""
    if gap_low <= 0.0 <= gap_high:
        return "consistent with the limit"
    if gap_low > 0.0:
        return "below the limit"
    return "above the limit (check the limit)"


def _midranks(x: NDArray) -> NDArray:
    """Ranks 1..n with ties given their average rank."""
    return stats.rankdata(x, method="average")


def delong_test(labels: NDArray, scores_a: NDArray, scores_b: NDArray) -> dict[str, float]:
    """DeLong's test of AUC(a) = AUC(b) for two scores of the same events (unweighted AUCs).

    Returns both AUCs, their difference a - b, its standard error and the two-sided p-value
    of the normal approximation. With weights constant within each class (the toy's physics
    weights) the weighted and unweighted AUCs are equal, so it cross-checks the bootstrap.
    """
    labels = np.asarray(labels)
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    v10, v01, aucs = [], [], []
    for s in (np.asarray(scores_a), np.asarray(scores_b)):
        x, y = s[positive], s[~positive]
        tx, ty, tz = _midranks(x), _midranks(y), _midranks(np.concatenate([x, y]))
        aucs.append((tz[:m].sum() / m - (m + 1) / 2.0) / n)
        v10.append((tz[:m] - tx) / n)  # structural components of the positives
        v01.append(1.0 - (tz[m:] - ty) / m)  # and of the negatives
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    cov = s10 / m + s01 / n
    variance = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    diff = aucs[0] - aucs[1]
    se = float(np.sqrt(max(variance, 0.0)))
    z = diff / se if se > 0 else (0.0 if diff == 0 else np.inf * np.sign(diff))
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "difference": float(diff),
        "se": se,
        "z": float(z),
        "p": float(2.0 * stats.norm.sf(abs(z))),
    }
