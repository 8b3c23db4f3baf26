"""ROC AUC with a bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from mlhep.evaluation.metrics import (
    TieGroups,
    auc_with_ci,
    delong_test,
    limit_verdict,
    paired_bootstrap,
    paired_gap,
    resampled_counts,
)


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


def test_weighted_auc_equals_scikit_learn_with_ties_and_weights() -> None:
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 5000)
    scores = np.round(rng.normal(size=5000) + labels, 1)  # many ties
    weights = rng.uniform(0.1, 2.0, 5000)
    # the bootstrap's engine: weights split into their signal and background parts
    for scores_ in (scores, scores + 1e-6 * np.arange(len(scores))):  # with and without ties
        engine = TieGroups.of(scores_).auc(weights * (labels == 1), weights * (labels == 0))
        expected = roc_auc_score(labels, scores_, sample_weight=weights)
        assert engine == pytest.approx(expected, abs=1e-12)


def test_bootstrap_replicates_are_exactly_those_of_the_plain_computation() -> None:
    """The bootstrap's speed-ups (counts narrowed before the gather, tie groups found once,
    arrays reused across resamples) must not change a bit of its replicates."""
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 3001):
        labels = rng.integers(0, 2, n)
        labels[0] = 1
        weights = rng.uniform(0.1, 2.0, n)
        scores = {"ties": np.round(rng.normal(size=n), 1), "plain": rng.normal(size=n)}
        with np.errstate(invalid="ignore"):  # a resample of one class has a NaN AUC
            got = paired_bootstrap(labels, scores, weights, n_resamples=20, seed=3)
        ws, wb = weights * (labels == 1), weights * (labels != 1)
        for name, s in scores.items():
            order = np.argsort(s, kind="stable")
            ordered = s[order]
            new = np.r_[True, ordered[1:] != ordered[:-1]]
            group = np.cumsum(new) - 1
            expected = []
            for counts in resampled_counts(n, 20, 3):
                c = counts[order]
                sig, bkg = ws[order] * c, wb[order] * c
                through = np.cumsum(bkg)
                if new.all():
                    below = through - 0.5 * bkg
                else:
                    end = through[np.r_[np.flatnonzero(np.diff(group)), n - 1]]
                    below = (0.5 * (np.r_[0.0, end[:-1]] + end))[group]
                with np.errstate(invalid="ignore"):
                    expected.append(float(sig @ below / (sig.sum() * through[-1])))
            assert got[name].tobytes() == np.array(expected).tobytes(), (n, name)


def _delong_by_pairs(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong's difference and standard error straight from the definitions, O(m n): the
    kernel psi(x, y) = 1, 1/2, 0 for x >, =, < y over every (signal, background) pair, its
    structural components V10 (per signal event) and V01 (per background event), and
    var = S10 / m + S01 / n of the two scores' covariance matrices (DeLong et al. 1988)."""
    signal, background = labels == 1, labels == 0
    m, n = signal.sum(), background.sum()
    v10, v01, aucs = [], [], []
    for s in (a, b):
        x, y = s[signal][:, None], s[background][None, :]
        psi = (x > y) + 0.5 * (x == y)
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.cov(v10), np.cov(v01)
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / n
    return float(aucs[0] - aucs[1]), float(np.sqrt(variance))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_the_brute_force_pair_sums(seed: int) -> None:
    """Small, unequal classes and heavy ties (scores rounded): the midrank shortcut must give
    the pair-by-pair difference and standard error to rounding."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(37, int), np.zeros(61, int)]
    truth = rng.normal(size=labels.size) + 0.8 * labels
    a = np.round(truth, 1)  # ties within and across classes
    b = np.round(truth + rng.normal(scale=0.7, size=labels.size), 0)
    difference, se = _delong_by_pairs(labels, a, b)
    got = delong_test(labels, a, b)
    assert got["difference"] == pytest.approx(difference, abs=1e-12)
    assert got["se"] == pytest.approx(se, rel=1e-10)
    assert got["auc_a"] == pytest.approx(roc_auc_score(labels, a), abs=1e-12)
    assert got["p"] == pytest.approx(2 * stats.norm.sf(abs(difference / se)), rel=1e-9)


def test_paired_gap_interval_and_delong_agree_on_correlated_scores() -> None:
    labels, truth = _gaussian_scores(20_000, 1.0, seed=12)
    model = truth + 0.5 * np.random.default_rng(13).normal(size=len(truth))
    gap = paired_gap(labels, truth, model, n_resamples=400, seed=2)
    delong = delong_test(labels, truth, model)
    assert gap["gap"] == pytest.approx(delong["difference"], abs=1e-12)
    assert gap["gap_std"] == pytest.approx(delong["se"], rel=0.15)
    # exact expected gap: Phi(1/sqrt 2) - Phi(1/sqrt(2 (1 + 0.25))) for Gaussian scores
    expected = stats.norm.cdf(1 / np.sqrt(2)) - stats.norm.cdf(1 / np.sqrt(2 * 1.25))
    assert gap["gap_low"] < expected < gap["gap_high"]
    # unpaired, the standard error would be sqrt(2) sigma_AUC: about three times larger here
    assert gap["gap_std"] < 0.5 * np.sqrt(2) * gap["auc_std"]
    assert limit_verdict(gap["gap_low"], gap["gap_high"]) == "below the limit"
    assert limit_verdict(-1e-4, 2e-4) == "consistent with the limit"
    assert limit_verdict(-3e-4, -1e-4) == "above the limit (check the limit)"
