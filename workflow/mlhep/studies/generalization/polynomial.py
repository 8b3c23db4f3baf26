"""Polynomial regression of a noisy readout pulse: the lecture's under- and over-fitting.

A polynomial of degree d is a linear model in the features P_1(u), ..., P_d(u), fitted
by the library's normal equations (:func:`mlhep.models.least_squares.normal_equations`, the bias
as the extended weight w_0). The time is first scaled to u in [-1, 1] and expanded in
Legendre polynomials P_k, which span the same functions as the monomials u^k but are
orthogonal on [-1, 1]: for 30 pulse samples the Gram matrix X^T X of the monomials up to
degree 20 has a condition number near 1e16 (the normal equations lose every digit), the
Legendre one near 1e7 (G. Golub and C. Van Loan, Matrix Computations, 4th ed., sec. 5.3.7).
The samples are jittered (one per equal part of the window, :func:`noisy_pulse`), so that no
large gap lets a high-degree fit run away between them.
Ridge adds lambda w^T w (bias unpenalised); lasso (lambda |w|_1) is scikit-learn's
coordinate descent on the same features.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.polynomial import legendre

from mlhep.data.pulse import PulseSamples, crrc_pulse, noisy_pulse
from mlhep.models.least_squares import extend, normal_equations

#: Points on which a fitted curve is drawn.
CURVE_POINTS = 400


@dataclass(frozen=True)
class PulseSplits:
    """Independent noisy samples of one pulse: train, validation and test."""

    train: PulseSamples
    validation: PulseSamples
    test: PulseSamples
    window: tuple[float, float]


def pulse_splits(settings: Mapping[str, Any], seed: int) -> PulseSplits:
    """The three samples of the study's pulse (config ``studies.generalization.pulse``),
    each drawn with its own seeded stream (the same for every sweep point)."""
    window = (float(settings["window"][0]), float(settings["window"][1]))
    shape = {k: settings[k] for k in ("amplitude", "t0", "peaking_time", "order")}
    streams = np.random.SeedSequence(seed).spawn(3)
    draw = {
        name: noisy_pulse(
            settings[f"n_{name}"], window, settings["noise"], np.random.default_rng(stream), **shape
        )
        for name, stream in zip(("train", "validation", "test"), streams, strict=True)
    }
    return PulseSplits(draw["train"], draw["validation"], draw["test"], window)


def scaled_time(t: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Times mapped linearly from ``window`` onto [-1, 1]."""
    lo, hi = window
    return 2.0 * (np.asarray(t, dtype=float) - lo) / (hi - lo) - 1.0


def design(t: np.ndarray, degree: int, window: tuple[float, float]) -> np.ndarray:
    """The features P_1(u), ..., P_degree(u) of each time (no constant column: the bias is
    the extended weight)."""
    return legendre.legvander(scaled_time(t, window), degree)[:, 1:]


def predict(weights: np.ndarray, t: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The fitted polynomial (weights of the extended design) at times ``t``."""
    return extend(design(t, len(weights) - 1, window)) @ weights


def fit_ridge(
    samples: PulseSamples, degree: int, window: tuple[float, float], ridge: float = 0.0
) -> np.ndarray:
    """Weights (w_0 the bias) of the degree-``degree`` fit by the normal equations, with
    the ridge penalty ``ridge`` w^T w on all but the bias."""
    return normal_equations(design(samples.t, degree, window), samples.y, ridge=ridge)


def fit_lasso(
    samples: PulseSamples, degree: int, window: tuple[float, float], alpha: float, seed: int = 0
) -> np.ndarray:
    """Weights (w_0 the bias) of the lasso fit, minimising |y - Xw|^2 / (2n) + alpha |w|_1
    (scikit-learn's objective; the bias unpenalised)."""
    # imported here: scikit-learn is most of the cost of a job of cheap degree or ridge fits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=alpha, max_iter=200_000, tol=1e-8, random_state=seed)
    with warnings.catch_warnings():
        # at tiny alpha coordinate descent may not reach tol: recorded, not fatal
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(design(samples.t, degree, window), samples.y)
    return np.concatenate([[model.intercept_], model.coef_])


def mse(weights: np.ndarray, samples: PulseSamples, window: tuple[float, float]) -> float:
    """Mean squared error of the fit on noisy samples."""
    return float(np.mean((predict(weights, samples.t, window) - samples.y) ** 2))


def kfold_splits(n: int, folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(fit, held-out) indices of a shuffled ``folds``-fold split of ``n`` samples: the
    splits of scikit-learn's ``KFold(folds, shuffle=True, random_state=seed)`` (a
    ``RandomState(seed)`` shuffle, the first ``n % folds`` folds one larger, both index sets
    in ascending order; the test checks them equal), without importing scikit-learn."""
    if not 2 <= folds <= n:
        raise ValueError(f"cannot split {n} samples into {folds} folds")
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    sizes = np.full(folds, n // folds)
    sizes[: n % folds] += 1
    start = 0
    for size in sizes:
        held = np.zeros(n, dtype=bool)
        held[order[start : start + size]] = True
        start += size
        yield np.flatnonzero(~held), np.flatnonzero(held)


def kfold_mse(
    samples: PulseSamples,
    degree: int,
    window: tuple[float, float],
    folds: int,
    seed: int,
    ridge: float = 0.0,
) -> float:
    """Mean held-out MSE of a ``folds``-fold cross-validation of the ridge fit."""
    errors = []
    for fit_idx, held_idx in kfold_splits(len(samples.t), folds, seed):
        part = PulseSamples(samples.t[fit_idx], samples.y[fit_idx], samples.truth[fit_idx])
        held = PulseSamples(samples.t[held_idx], samples.y[held_idx], samples.truth[held_idx])
        errors.append(mse(fit_ridge(part, degree, window, ridge), held, window))
    return float(np.mean(errors))


def pooled(a: PulseSamples, b: PulseSamples) -> PulseSamples:
    """Two samples as one (train and validation, for cross-validation)."""
    return PulseSamples(
        *(np.concatenate([getattr(a, k), getattr(b, k)]) for k in ("t", "y", "truth"))
    )


def fit_record(
    weights: np.ndarray, data: PulseSplits, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """What a sweep point reports: the MSE on each split, the error against the noiseless
    pulse, the weights' norm and the fitted curve (for the panel of fits)."""
    grid = np.linspace(*data.window, CURVE_POINTS)
    truth = crrc_pulse(
        grid, settings["amplitude"], settings["t0"], settings["peaking_time"], settings["order"]
    )
    curve = predict(weights, grid, data.window)
    return {
        "train_mse": mse(weights, data.train, data.window),
        "validation_mse": mse(weights, data.validation, data.window),
        "test_mse": mse(weights, data.test, data.window),
        "truth_mse": float(np.mean((curve - truth) ** 2)),
        "noise_variance": float(settings["noise"]) ** 2,
        "weight_norm": float(np.linalg.norm(weights[1:])),
        "nonzero_weights": int(np.count_nonzero(np.abs(weights[1:]) > 1e-12)),
        "weights": weights.tolist(),
        "curve": {"t": grid.tolist(), "fit": curve.tolist(), "truth": truth.tolist()},
    }


# --- sweep points (see mlhep.studies.generalization.STUDIES) -----------------------------
def degree_point(
    settings: Mapping[str, Any], point: Mapping[str, Any], splits: Any, context: Any
) -> dict[str, Any]:
    """The degree-``point["degree"]`` least-squares fit, with its k-fold cross-validated
    MSE on train + validation pooled (the choice that uses every non-test sample)."""
    data = pulse_splits(settings["pulse"], context.seed)
    degree = int(point["degree"])
    record = fit_record(fit_ridge(data.train, degree, data.window), data, settings["pulse"])
    folds = settings["folds"]
    record["kfold_mse"] = (
        kfold_mse(pooled(data.train, data.validation), degree, data.window, folds, context.seed)
        if folds > 1
        else None
    )
    record["samples"] = {
        s: {"t": getattr(data, s).t.tolist(), "y": getattr(data, s).y.tolist()}
        for s in ("train", "validation")
    }
    return record


def ridge_point(
    settings: Mapping[str, Any], point: Mapping[str, Any], splits: Any, context: Any
) -> dict[str, Any]:
    """The ridge fit (penalty ``point["penalty"]`` on w^T w) at the study's degree."""
    data = pulse_splits(settings["pulse"], context.seed)
    w = fit_ridge(data.train, settings["degree"], data.window, float(point["penalty"]))
    return fit_record(w, data, settings["pulse"])


def lasso_point(
    settings: Mapping[str, Any], point: Mapping[str, Any], splits: Any, context: Any
) -> dict[str, Any]:
    """The lasso fit (penalty ``point["penalty"]`` on |w|_1) at the study's degree."""
    data = pulse_splits(settings["pulse"], context.seed)
    w = fit_lasso(
        data.train, settings["degree"], data.window, float(point["penalty"]), context.seed
    )
    return fit_record(w, data, settings["pulse"])
