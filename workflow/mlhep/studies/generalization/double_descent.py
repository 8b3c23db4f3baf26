"""Double descent: the test error of minimum-norm least squares against the number of
parameters p per training example n, through the interpolation threshold p = n.

The exact asymptotic risk (p, n -> infinity at fixed gamma = p/n) for isotropic Gaussian
features x ~ N(0, I_p), y = x.beta + noise, |beta|^2 = r^2, noise variance sigma^2 is
(T. Hastie, A. Montanari, S. Rosset, R. Tibshirani, Surprises in high-dimensional ridgeless
least squares interpolation, Ann. Statist. 50 (2022) 949, arXiv:1903.08560, Thm 1):

    R(gamma) = sigma^2 gamma / (1 - gamma)               for gamma < 1,
    R(gamma) = r^2 (1 - 1/gamma) + sigma^2 / (gamma - 1)  for gamma > 1,

where R = E[(x.(beta_hat - beta))^2] is the excess test error. At finite n the first branch
is exactly sigma^2 p / (n - p - 1) (the mean of an inverse Wishart matrix). Ridge
regression beta_hat = (X^T X / n + lambda I)^-1 X^T y / n has the risk (E. Dobriban and
S. Wager, High-dimensional asymptotics of prediction, Ann. Statist. 46 (2018) 247, Thm 2.1)

    R(lambda) = r^2 lambda^2 m'(-lambda) + sigma^2 gamma (m(-lambda) - lambda m'(-lambda)),

with m the Stieltjes transform of the Marchenko-Pastur law of ratio gamma; it is smallest at
lambda* = sigma^2 gamma / r^2, where the peak at gamma = 1 disappears.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score


def minimum_norm_risk(gamma: float | np.ndarray, signal: float, noise: float) -> np.ndarray:
    """Asymptotic excess risk of min-norm least squares (``signal`` = r^2, ``noise`` =
    sigma^2); infinite at gamma = 1."""
    g = np.asarray(gamma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        under = noise * g / (1.0 - g)
        over = signal * (1.0 - 1.0 / g) + noise / (g - 1.0)
    return np.where(g < 1.0, under, np.where(g > 1.0, over, np.inf))


def finite_n_risk(p: int, n: int, signal: float, noise: float) -> float:
    """Exact expected excess risk of least squares at p < n - 1 (sigma^2 p / (n - p - 1));
    the asymptotic formula for p >= n - 1."""
    if p < n - 1:
        return noise * p / (n - p - 1)
    return float(minimum_norm_risk(p / n, signal, noise))


def marchenko_pastur_stieltjes(z: float, gamma: float) -> tuple[float, float]:
    """m(z) and m'(z) of the Marchenko-Pastur law of ratio ``gamma`` (unit variance) at
    real z < 0: the root of gamma z m^2 - (1 - gamma - z) m + 1 = 0 that is positive."""
    if z >= 0:
        raise ValueError(f"need z < 0, got {z}")
    b = 1.0 - gamma - z
    m = (b - np.sqrt(b * b - 4.0 * gamma * z)) / (2.0 * gamma * z)
    dm = -(gamma * m * m + m) / (2.0 * gamma * z * m - b)
    return float(m), float(dm)


def ridge_risk(gamma: float, lam: float, signal: float, noise: float) -> float:
    """Asymptotic excess risk of ridge with penalty ``lam`` (> 0), isotropic features."""
    m, dm = marchenko_pastur_stieltjes(-lam, gamma)
    return signal * lam * lam * dm + noise * gamma * (m - lam * dm)


def optimal_ridge_penalty(gamma: float, signal: float, noise: float) -> float:
    """lambda* = sigma^2 gamma / r^2, the risk-minimising ridge penalty."""
    return noise * gamma / signal


def least_squares(x: np.ndarray, y: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """Ridge weights (X^T X / n + lam I)^-1 X^T y / n; ``lam`` = 0 gives the minimum-norm
    least-squares solution (the pseudo-inverse) on either side of p = n."""
    n, p = x.shape
    if lam == 0.0:
        return np.linalg.lstsq(x, y, rcond=None)[0]
    if p <= n:
        return np.linalg.solve(x.T @ x + n * lam * np.eye(p), x.T @ y)
    return x.T @ np.linalg.solve(x @ x.T + n * lam * np.eye(n), y)  # the dual, for p > n


def simulate_isotropic(
    n: int, p: int, signal: float, noise: float, repeats: int, seed: int
) -> dict[str, Any]:
    """Excess risk |beta_hat - beta|^2 of min-norm least squares and of the optimal ridge
    over ``repeats`` draws of (X, beta, noise): mean, standard error and the draws."""
    rng = np.random.default_rng(seed)
    lam = optimal_ridge_penalty(p / n, signal, noise)
    risks: dict[str, list[float]] = {"minimum_norm": [], "ridge": []}
    for _ in range(repeats):
        x = rng.standard_normal((n, p))
        beta = rng.standard_normal(p)
        beta *= np.sqrt(signal) / np.linalg.norm(beta)
        y = x @ beta + np.sqrt(noise) * rng.standard_normal(n)
        risks["minimum_norm"].append(float(np.sum((least_squares(x, y) - beta) ** 2)))
        risks["ridge"].append(float(np.sum((least_squares(x, y, lam) - beta) ** 2)))
    out: dict[str, Any] = {
        "n": n,
        "p": p,
        "ratio": p / n,
        "ridge_penalty": lam,
        "signal": signal,
        "noise": noise,
    }
    for name, values in risks.items():
        v = np.asarray(values)
        out[f"{name}_risk"] = float(v.mean())
        out[f"{name}_risk_median"] = float(np.median(v))
        out[f"{name}_risk_error"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    out["theory_minimum_norm"] = float(minimum_norm_risk(p / n, signal, noise))
    out["theory_finite_n"] = finite_n_risk(p, n, signal, noise)
    out["theory_ridge"] = ridge_risk(p / n, lam, signal, noise)
    return out


def relu_features(d: int, p: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A random ReLU feature map x -> max(0, W x + b) / sqrt(p) with W ~ N(0, 1/d) and
    b ~ N(0, 1) (A. Rahimi and B. Recht, NeurIPS 2007; S. Mei and A. Montanari,
    arXiv:1908.05355): a two-layer network whose first layer is never trained."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d, p)) / np.sqrt(d)
    b = rng.standard_normal(p)
    return lambda x: np.maximum(x @ w + b, 0.0) / np.sqrt(p)


def random_feature_fit(
    train: tuple[np.ndarray, np.ndarray],
    evaluate: dict[str, tuple[np.ndarray, np.ndarray]],
    p: int,
    seed: int,
    penalties: np.ndarray,
) -> dict[str, Any]:
    """Least squares of the labels on ``p`` random ReLU features of standardised inputs:
    the minimum-norm fit and ridge fits at ``penalties`` (kernel form, one eigen-
    decomposition). Returns the MSE and AUC of each on every split in ``evaluate``."""
    x, y = train
    mean, scale = x.mean(0), x.std(0) + 1e-12
    phi = relu_features(x.shape[1], p, seed)
    f_train = phi((x - mean) / scale)
    offset = y.mean()
    result: dict[str, Any] = {"p": p, "n": len(y), "ratio": p / len(y)}
    weights = {"minimum_norm": np.linalg.lstsq(f_train, y - offset, rcond=None)[0]}
    # ridge in the dual: alpha = (K + n lam I)^-1 (y - mean), K = F F^T, for every lam at once
    eigval, eigvec = np.linalg.eigh(f_train @ f_train.T)
    projected = eigvec.T @ (y - offset)
    n = len(y)
    for lam in penalties:
        alpha = eigvec @ (projected / (eigval + n * lam))
        weights[f"ridge_{lam:g}"] = f_train.T @ alpha
    for name, (xs, ys) in {"train": train, **evaluate}.items():
        features = phi((xs - mean) / scale)
        for fit, w in weights.items():
            pred = features @ w + offset
            result[f"{fit}/{name}_mse"] = float(np.mean((pred - ys) ** 2))
            result[f"{fit}/{name}_auc"] = float(roc_auc_score(ys, pred))
    return result


def isotropic_point(
    settings: Mapping[str, Any], point: Mapping[str, Any], splits: Any, context: Any
) -> dict[str, Any]:
    """Min-norm and optimal-ridge risk at p/n = ``point["ratio"]`` (see
    :func:`simulate_isotropic`), next to the theory."""
    n = settings["n"]
    p = max(1, round(float(point["ratio"]) * n))
    return simulate_isotropic(
        n, p, settings["signal"], settings["noise"], settings["repeats"], context.seed
    )
