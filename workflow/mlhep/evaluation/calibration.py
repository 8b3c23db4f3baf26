"""Probabilities checked against the truth: where a dataset has an exact limit, every event's
exact posterior p* is known, so a classifier's probability p can be compared with it event
by event, without the label noise of a reliability diagram against the labels.

- the excess log-loss E[KL(p* || p)] in nats: the expected log-loss of p minus that of the
  Bayes posterior on the same events (zero only for p = p*);
- the term E[(p - p*)^2] of the Brier score's decomposition, E|p - p*| and its 99th
  percentile;
- the slope and intercept of logit p regressed on logit p* (1 and 0 for perfect
  calibration; a slope below 1 is an under-confident, above 1 an over-confident model);
- reliability against the truth (mean p* in bins of p) beside scikit-learn's
  ``calibration_curve`` against the labels;
- recalibration on the validation split (isotonic regression, Platt scaling, temperature
  scaling) and what it changes on the test split.

References: C. Guo et al., On calibration of modern neural networks, ICML 2017 (temperature
scaling); J. Platt, Probabilistic outputs for support vector machines (1999); B. Zadrozny
and C. Elkan, KDD 2002 (isotonic calibration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

#: Probabilities are clipped to [EPS, 1 - EPS] before logs and logits.
EPS = 1e-15


def posterior(log_ratio: NDArray, prior_log_odds: float) -> NDArray:
    """The exact posterior P(signal | x) = sigmoid(log-likelihood ratio + prior log-odds)."""
    return special.expit(np.asarray(log_ratio, dtype=float) + prior_log_odds)


def prior_log_odds(labels: NDArray) -> float:
    """log(n_S / n_B) of a training sample: the prior its posterior is taken at."""
    labels = np.asarray(labels)
    n_signal, n_background = int((labels == 1).sum()), int((labels == 0).sum())
    if not n_signal or not n_background:
        raise ValueError(f"a training sample needs both classes ({n_signal} S, {n_background} B)")
    return float(np.log(n_signal / n_background))


def _logit(p: NDArray) -> NDArray:
    return special.logit(np.clip(p, EPS, 1.0 - EPS))


def excess_log_loss(p: NDArray, p_star: NDArray) -> NDArray:
    """Per-event KL(p* || p) of two Bernoulli distributions, in nats (>= 0)."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1.0 - EPS)
    q = np.clip(np.asarray(p_star, dtype=float), EPS, 1.0 - EPS)
    return special.rel_entr(q, p) + special.rel_entr(1.0 - q, 1.0 - p)


def truth_metrics(p: NDArray, logit_star: NDArray) -> dict[str, float]:
    """How far the probabilities ``p`` are from the exact posterior p* = sigmoid(
    ``logit_star``), per event (the logit given exactly, not recomputed from a rounded p*)."""
    p, logit_star = np.asarray(p, dtype=float), np.asarray(logit_star, dtype=float)
    p_star = special.expit(logit_star)
    diff = np.abs(p - p_star)
    slope, intercept = np.polyfit(logit_star, _logit(p), 1)
    return {
        "excess_log_loss": float(excess_log_loss(p, p_star).mean()),
        "calibration_mse": float(np.mean(diff**2)),
        "mean_abs_dp": float(diff.mean()),
        "p99_abs_dp": float(np.percentile(diff, 99)),
        "logit_slope": float(slope),
        "logit_intercept": float(intercept),
    }


def reliability(
    p: NDArray, p_star: NDArray, labels: NDArray, n_bins: int = 20
) -> dict[str, list[float]]:
    """Reliability in ``n_bins`` equal-width bins of p: mean p and mean p* per bin (against
    the truth), and scikit-learn's ``calibration_curve`` (fraction of signal labels per bin,
    against the labels); empty bins are left out of both."""
    p, p_star = np.asarray(p, dtype=float), np.asarray(p_star, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges[1:-1], p)  # the binning of calibration_curve
    count = np.bincount(index, minlength=n_bins)
    filled = count > 0
    mean_p = np.bincount(index, p, n_bins)[filled] / count[filled]
    mean_truth = np.bincount(index, p_star, n_bins)[filled] / count[filled]
    frac_labels, mean_p_labels = calibration_curve(labels, p, n_bins=n_bins, strategy="uniform")
    return {
        "mean_p": mean_p.tolist(),
        "mean_p_star": mean_truth.tolist(),
        "count": count[filled].tolist(),
        "label_mean_p": mean_p_labels.tolist(),
        "label_fraction": frac_labels.tolist(),
    }


Calibrator = Callable[[NDArray], NDArray]


def _isotonic(p: NDArray, y: NDArray, model_prior_log_odds: float) -> Calibrator:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return lambda q: np.asarray(model.predict(q), dtype=float)


def _platt(p: NDArray, y: NDArray, model_prior_log_odds: float) -> Calibrator:
    model = LogisticRegression(C=1e6).fit(_logit(p)[:, None], y)
    return lambda q: model.predict_proba(_logit(q)[:, None])[:, 1]


def _temperature(p: NDArray, y: NDArray, model_prior_log_odds: float) -> Calibrator:
    """logit q = (logit p - model prior) / T + validation prior: the temperature scales the
    model's log-likelihood ratio and the prior becomes the validation sample's, as the
    truth it is judged against is taken there (Guo et al.'s logit / T, which has no
    intercept, would charge a perfect model trained at another prior for the shift). T by
    maximum likelihood on the validation labels."""
    from scipy.optimize import minimize_scalar

    ratio = _logit(p) - model_prior_log_odds
    prior = prior_log_odds(y)
    sign = np.where(np.asarray(y) == 1, -1.0, 1.0)

    def nll(log_inverse_t: float) -> float:
        return float(np.mean(np.logaddexp(0.0, sign * (np.exp(log_inverse_t) * ratio + prior))))

    inverse_t = float(np.exp(minimize_scalar(nll, bounds=(-7.0, 7.0), method="bounded").x))
    return lambda q: special.expit((_logit(q) - model_prior_log_odds) * inverse_t + prior)


#: Recalibration maps fitted on (probability, label) pairs of the validation split, given
#: the prior log-odds the model was trained at.
CALIBRATORS: dict[str, Callable[[NDArray, NDArray, float], Calibrator]] = {
    "isotonic": _isotonic,
    "platt": _platt,
    "temperature": _temperature,
}


def recalibrated_metrics(
    methods: list[str],
    validation: tuple[NDArray, NDArray],
    test_p: NDArray,
    test_logit_star: NDArray,
    model_prior_log_odds: float = 0.0,
) -> dict[str, Any]:
    """For each method: fit it on the validation (probability, label) pairs, apply it to the
    test probabilities and measure them against the truth, whose logit ``test_logit_star``
    is taken at the validation sample's prior (the recalibrated probabilities are
    posteriors at that prior; temperature scaling is given the prior log-odds the model
    was trained at); keys ``<metric>_<method>``."""
    unknown = sorted(set(methods) - set(CALIBRATORS))
    if unknown:
        raise ValueError(f"unknown calibration method(s) {unknown}; known: {sorted(CALIBRATORS)}")
    out: dict[str, Any] = {}
    for method in methods:
        calibrate = CALIBRATORS[method](*validation, model_prior_log_odds)
        for key, value in truth_metrics(calibrate(test_p), test_logit_star).items():
            out[f"{key}_{method}"] = value
    return out
