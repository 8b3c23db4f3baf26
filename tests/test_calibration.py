"""Probabilities and uncertainties against a known truth: the calibration metrics, the
recalibrations and the coverage of an ensemble's spread."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from mlhep.evaluation.calibration import (
    excess_log_loss,
    posterior,
    prior_log_odds,
    recalibrated_metrics,
    reliability,
    truth_metrics,
)
from mlhep.evaluation.uncertainty import coverage


def _truth(n: int = 200_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Exact posteriors from a Gaussian log-likelihood ratio and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p_star = posterior(rng.normal(0.0, 1.5, n), 0.0)
    return p_star, (rng.random(n) < p_star).astype(int)


def test_posterior_and_prior() -> None:
    assert posterior(np.array([0.0]), np.log(3.0))[0] == pytest.approx(0.75)
    assert prior_log_odds(np.array([1, 1, 1, 0])) == pytest.approx(np.log(3.0))
    with pytest.raises(ValueError, match="both classes"):
        prior_log_odds(np.ones(5))


def test_perfect_probabilities_have_no_excess_and_unit_slope() -> None:
    p_star, _ = _truth()
    m = truth_metrics(p_star, special.logit(p_star))
    assert m["excess_log_loss"] == pytest.approx(0.0, abs=1e-12)
    assert m["mean_abs_dp"] < 1e-15 and m["p99_abs_dp"] < 1e-15
    assert m["logit_slope"] == pytest.approx(1.0) and m["logit_intercept"] == pytest.approx(
        0.0, abs=1e-9
    )


def test_over_confidence_shows_in_slope_and_excess_log_loss() -> None:
    p_star, _ = _truth()
    over = special.expit(2.0 * special.logit(p_star) + 0.3)  # too sure, shifted
    m = truth_metrics(over, special.logit(p_star))
    assert m["logit_slope"] == pytest.approx(2.0) and m["logit_intercept"] == pytest.approx(0.3)
    # the excess log-loss is the expected log-loss minus the Bayes log-loss (labels ~ p*)
    expected = np.mean(-p_star * np.log(over) - (1 - p_star) * np.log(1 - over))
    bayes = np.mean(-p_star * np.log(p_star) - (1 - p_star) * np.log(1 - p_star))
    assert m["excess_log_loss"] == pytest.approx(expected - bayes, rel=1e-9)
    assert (excess_log_loss(over, p_star) >= 0).all()


def test_recalibration_on_validation_repairs_a_monotone_distortion() -> None:
    p_star, labels = _truth(seed=1)
    val_star, val_labels = _truth(seed=2)
    distort = lambda p: special.expit(2.0 * special.logit(p) + 0.3)  # noqa: E731
    truth = special.logit(p_star)
    raw = truth_metrics(distort(p_star), truth)["excess_log_loss"]
    fixed = recalibrated_metrics(
        ["isotonic", "platt", "temperature"],
        (distort(val_star), val_labels),
        distort(p_star),
        truth,
    )
    # Platt undoes an affine map of the logit exactly (up to the validation noise)
    assert fixed["excess_log_loss_platt"] < 0.01 * raw
    assert fixed["logit_slope_platt"] == pytest.approx(1.0, abs=0.03)
    assert fixed["excess_log_loss_isotonic"] < 0.05 * raw
    # temperature has no intercept: it cannot undo the shift
    assert fixed["excess_log_loss_platt"] < fixed["excess_log_loss_temperature"] < raw
    with pytest.raises(ValueError, match="unknown calibration method"):
        recalibrated_metrics(["beta"], (p_star, labels), p_star, truth)


def test_temperature_scaling_leaves_a_perfect_model_at_another_prior_perfect() -> None:
    """A perfect model trained class-balanced (prior log-odds 0) judged at a validation and
    test prior of +0.2 (the toy's): temperature scaling with the prior offset finds T = 1
    and no excess; without the offset (Guo et al.'s logit / T) it was charged 3.2e-3 nats,
    more than the BDT's own excess."""
    rng = np.random.default_rng(5)
    prior = 0.2

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        """Classes at prior log-odds 0.2, x ~ N(+-1, 1): the log-likelihood ratio is 2x."""
        labels = (rng.uniform(size=n) < special.expit(prior)).astype(int)
        x = rng.normal(np.where(labels == 1, 1.0, -1.0), 1.0)
        return 2.0 * x, labels

    val_llr, val_labels = sample(200_000)
    test_llr, _ = sample(200_000)
    trained_balanced = special.expit  # the exact posterior at prior 0
    truth = test_llr + prior_log_odds(val_labels)
    fixed = recalibrated_metrics(
        ["platt", "temperature"],
        (trained_balanced(val_llr), val_labels),
        trained_balanced(test_llr),
        truth,
        model_prior_log_odds=0.0,
    )
    # only the validation sample's noise is left: its prior and T within their errors
    assert fixed["excess_log_loss_temperature"] < 5e-5
    assert fixed["logit_slope_temperature"] == pytest.approx(1.0, abs=0.02)
    assert fixed["excess_log_loss_platt"] < 5e-5


def test_reliability_against_truth_and_labels() -> None:
    p_star, labels = _truth(seed=3)
    r = reliability(p_star, p_star, labels, n_bins=10)
    np.testing.assert_allclose(r["mean_p"], r["mean_p_star"])  # perfect against the truth
    # against the labels only up to the label noise
    np.testing.assert_allclose(r["label_fraction"], r["label_mean_p"], atol=0.01)
    assert sum(r["count"]) == len(p_star)


def test_coverage_of_an_honest_and_of_a_biased_ensemble() -> None:
    rng = np.random.default_rng(4)
    n, members = 100_000, 4
    p_star = rng.uniform(0.1, 0.9, n)
    sigma = rng.uniform(0.01, 0.05, n)
    # an honest ensemble: members scattered without bias around p*, each its own draw
    honest_members = p_star + sigma * rng.normal(size=(members, n))
    mean, spread = honest_members.mean(axis=0), honest_members.std(axis=0, ddof=1)
    honest = coverage(mean, spread, p_star, members)
    # |mean - p*| / spread follows |t_3| / 2: 86% within one spread, not the Gaussian 68%
    assert honest["coverage_honest_1"] == pytest.approx(0.8607, abs=1e-3)
    for k in (1, 2, 3):
        assert honest[f"coverage_{k}"] == pytest.approx(honest[f"coverage_honest_{k}"], abs=0.01)
    assert honest["spread_scale_68"] == pytest.approx(1.0, abs=0.03)
    assert honest["spearman_spread_error"] > 0.1  # a larger spread flags a larger error
    # a bias shared by every member, which no spread can show, breaks the coverage
    biased = coverage(mean + 2 * sigma, spread, p_star, members)
    assert biased["coverage_1"] < 0.5 and biased["spread_scale_68"] > 2
    assert biased["coverage"] == sorted(biased["coverage"]) and biased["coverage"][0] == 0.0
    with pytest.raises(ValueError, match="at least 2 members"):
        coverage(mean, spread, p_star, 1)
