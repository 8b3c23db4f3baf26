"""Distances between a generated and a real sample, on NumPy and SciPy.

- per feature: the 1-D Wasserstein distance and the Kolmogorov-Smirnov statistic
  (``scipy.stats.wasserstein_distance``, ``scipy.stats.ks_2samp``);
- the Frechet physics distance (FPD) and kernel physics distance (KPD) of Kansal et al.,
  "Evaluating generative models in high energy physics", Phys. Rev. D 107 (2023) 076017,
  arXiv:2211.10295, written after their definitions (and JetNet's
  ``jetnet/evaluation/gen_metrics.py``): the FPD is the Frechet distance of Gaussians
  fitted to the two samples, computed on random subsets of sizes N spaced evenly in 1/N and
  extrapolated linearly in 1/N to N -> infinity (its bias is O(1/N)); its error is the
  standard error of that intercept. JetNet bounds the fit to a non-negative intercept; this
  one is not bounded, so two real samples can give a slightly negative FPD (within its
  error), which says more than a zero. The KPD is the unbiased estimator of the squared
  maximum mean discrepancy with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 of the
  paper (and of the kernel inception distance; JetNet's code defaults to degree 4, so its
  numbers are not these), the median over batches, its error half the 16.275-83.725%
  interquantile range (JetNet's).

Features are centred and scaled with the real sample's mean and standard deviation before
FPD and KPD, so that GeV and radians weigh alike and no large-mean column dominates the
polynomial kernel (which is not shift-invariant; the FPD is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, stats

Array = NDArray[np.float64]


def wasserstein_1d(real: Array, generated: Array) -> float:
    """The 1-D Wasserstein-1 (earth mover's) distance of two samples."""
    return float(stats.wasserstein_distance(real, generated))


def ks_statistic(real: Array, generated: Array) -> float:
    """The two-sample Kolmogorov-Smirnov statistic (largest CDF difference)."""
    return float(stats.ks_2samp(real, generated).statistic)


def frechet_distance(mu1: Array, cov1: Array, mu2: Array, cov2: Array) -> float:
    """Frechet (2-Wasserstein) distance of two Gaussians:
    |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))."""
    covmean = linalg.sqrtm(cov1 @ cov2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


@dataclass(frozen=True)
class Estimate:
    """A value with its error."""

    value: float
    error: float

    def to_dict(self) -> dict[str, float]:
        """JSON-able."""
        return {"value": self.value, "error": self.error}


def scaled(real: Array, generated: Array) -> tuple[Array, Array]:
    """Both samples centred and scaled with the real sample's per-feature mean and standard
    deviation."""
    mean, scale = real.mean(axis=0), np.maximum(real.std(axis=0), 1e-12)
    return (real - mean) / scale, (generated - mean) / scale


def fpd(
    real: Array,
    generated: Array,
    rng: np.random.Generator,
    min_samples: int = 5_000,
    max_samples: int = 50_000,
    num_batches: int = 10,
    num_points: int = 10,
) -> Estimate:
    """The FPD extrapolated to infinite sample size (Kansal et al. 2023, section IV): at
    ``num_points`` sizes N from ``min_samples`` to ``max_samples`` (at most the smaller
    sample), evenly spaced in 1/N, the mean Frechet distance of ``num_batches`` random
    subsets; a straight line in 1/N, its intercept and that intercept's standard error."""
    real, generated = scaled(real, generated)
    top = min(max_samples, len(real), len(generated))
    low = min(min_samples, top)
    sizes = np.unique((1.0 / np.linspace(1.0 / low, 1.0 / top, num_points)).astype(int))
    means = []
    for size in sizes:
        values = []
        for _ in range(num_batches):
            a = real[rng.choice(len(real), size, replace=False)]
            b = generated[rng.choice(len(generated), size, replace=False)]
            values.append(
                frechet_distance(
                    a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
                )
            )
        means.append(np.mean(values))
    if len(sizes) < 3:
        return Estimate(float(means[-1]), float("nan"))
    fit = stats.linregress(1.0 / sizes, means)
    return Estimate(float(fit.intercept), float(fit.intercept_stderr))


def _mmd_cubic_unbiased(x: Array, y: Array) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kpd(
    real: Array,
    generated: Array,
    rng: np.random.Generator,
    num_batches: int = 10,
    batch_size: int = 5_000,
) -> Estimate:
    """The KPD (Kansal et al. 2023): the median over ``num_batches`` batches (of at most
    half of each sample) of the unbiased MMD^2 with the cubic polynomial kernel, its error
    half the 16.275-83.725% interquantile range."""
    real, generated = scaled(real, generated)
    # at most half of each sample: batches that differ, or the spread would be zero
    size = max(min(batch_size, len(real) // 2, len(generated) // 2), 2)
    values = [
        _mmd_cubic_unbiased(
            real[rng.choice(len(real), size, replace=False)],
            generated[rng.choice(len(generated), size, replace=False)],
        )
        for _ in range(num_batches)
    ]
    low, high = np.percentile(values, [16.275, 83.725])
    return Estimate(float(np.median(values)), float((high - low) / 2.0))


def per_feature(
    real: Array, generated: Array, columns: Sequence[str]
) -> dict[str, dict[str, float]]:
    """W1 and KS of every column: ``{column: {"w1": ..., "ks": ...}}``."""
    return {
        c: {
            "w1": wasserstein_1d(real[:, i], generated[:, i]),
            "ks": ks_statistic(real[:, i], generated[:, i]),
        }
        for i, c in enumerate(columns)
    }


def fwhm(mass: np.ndarray, low: float = 100.0, high: float = 150.0, width: float = 0.5) -> float:
    """Full width at half maximum of a peak, from a histogram smoothed over three bins,
    the half-maximum crossings interpolated linearly; ``inf`` when a side stays above half
    the maximum up to the window's edge (no peak inside the window: its width is at least
    the window's, not a number to compare)."""
    counts, edges = np.histogram(mass, bins=round((high - low) / width), range=(low, high))
    smooth = np.convolve(counts, np.ones(3) / 3.0, mode="same")
    centres = 0.5 * (edges[1:] + edges[:-1])
    top = int(np.argmax(smooth))
    half = smooth[top] / 2.0
    if half <= 0:
        return float("nan")
    left = top
    while left > 0 and smooth[left] > half:
        left -= 1
    right = top
    while right < len(smooth) - 1 and smooth[right] > half:
        right += 1
    if smooth[left] > half or smooth[right] > half:
        return float("inf")

    def cross(i: int, j: int) -> float:
        if smooth[j] == smooth[i]:
            return float(centres[i])
        return float(
            centres[i] + (half - smooth[i]) * (centres[j] - centres[i]) / (smooth[j] - smooth[i])
        )

    return cross(right, right - 1) - cross(left, left + 1)
