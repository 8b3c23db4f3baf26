"""The Bayes-optimal estimates of a pulse: the posterior mean and standard deviation of its
amplitude A and arrival time t0 under the dataset's own prior, by quadrature.

The prior is the generator's: A log-uniform over ``amplitude_range`` (density 1/A), t0
uniform over ``t0_range``. With samples s = A g(t0) + n, Gaussian noise of precision P,
the likelihood at fixed t0 is Gaussian in A,

    L(A, t0) ~ exp(-Q (A - mu)^2 / 2 + b^2 / (2 Q)),  b = g'P s, Q = g'P g, mu = b / Q,

so the posterior is integrated over t0 on a fine uniform grid (trapezoid rule) and, at each
grid point, over A by Gauss-Legendre nodes spanning mu +- ``width`` / sqrt(Q) within the
prior's range. The posterior mean minimises the mean squared error over the prior (the
Bayes risk, e.g. Kay, Fundamentals of Statistical Signal Processing: Estimation Theory,
ch. 10): it is the reference for any estimator trained on pulses drawn from that prior,
where the Cramer-Rao bound, which holds for unbiased estimators only, is not (at low A/sigma
the posterior mean shrinks towards the typical pulse and beats the bound).

:func:`posterior_moments` holds the prior of a dataset without pile-up (for one with
pile-up, it is the estimate of an observer who ignores it);
:func:`pileup_posterior_moments` adds the pile-up hypotheses, at a few hundred times the
cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from mlhep.data.pulse.readout import Readout

#: The posterior's columns, named as a regressor's predictions (sigma: the posterior sd).
COLUMNS = ("amplitude_hat", "t0_hat", "amplitude_sigma", "t0_sigma")


def posterior_moments(
    samples: np.ndarray,
    readout: Readout,
    amplitude_range: Sequence[float],
    t0_range: Sequence[float],
    *,
    t0_points: int = 96,
    amplitude_nodes: int = 24,
    width: float = 8.0,
    coarse_step: float = 0.1,
    chunk: int = 256,
) -> pd.DataFrame:
    """The posterior mean and standard deviation of A and t0 of each pulse (rows of
    ``samples``), columns :data:`COLUMNS`.

    Each pulse's t0 integral runs over ``t0_points`` points spanning only where its
    posterior can have mass: where the profile likelihood (A at its best value in the
    prior's range), scanned every ``coarse_step`` ns, is within :data:`WINDOW` of its
    maximum, one step added on each side. At A/sigma 200 that is about 2 ns (steps of
    0.01 ns against a posterior width of about 0.1 ns); at A/sigma 2, the whole range.
    ``amplitude_nodes`` Gauss-Legendre nodes cover mu +- ``width`` standard deviations of
    the likelihood in A. Pulses are processed ``chunk`` at a time.
    """
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    a_lo, a_hi = (float(v) for v in amplitude_range)
    t_lo, t_hi = (float(v) for v in t0_range)
    if not (0 < a_lo < a_hi and t_lo < t_hi):
        raise ValueError(
            f"need 0 < amplitude low < high and t0 low < high, got {amplitude_range}, {t0_range}"
        )
    coarse = np.linspace(t_lo, t_hi, max(2, int(np.ceil((t_hi - t_lo) / coarse_step)) + 1))
    nodes, node_weights = np.polynomial.legendre.leggauss(amplitude_nodes)
    grid = np.linspace(0.0, 1.0, t0_points)
    log_trapezoid = np.log(np.r_[0.5, np.ones(t0_points - 2), 0.5])
    out = np.empty((len(samples), 4))
    for start in range(0, len(samples), chunk):
        x = samples[start : start + chunk]
        lo, hi = _window(x, readout, coarse, (a_lo, a_hi))
        t0 = lo[:, None] + (hi - lo)[:, None] * grid  # (c, T): each pulse its own grid
        g = readout.template(t0)  # (c, T, n)
        weights = g @ readout.precision
        q = (weights * g).sum(axis=-1)
        b = np.einsum("ctn,cn->ct", weights, x)
        out[start : start + chunk] = _moments(
            t0, b, q, log_trapezoid, nodes, np.log(node_weights), (a_lo, a_hi), width
        )
    return pd.DataFrame(out, columns=list(COLUMNS))


#: How far below its maximum (in log-likelihood) the profile may fall inside the t0 window:
#: the posterior outside is below e^-40 of its peak, the prior's 1/A included (a factor of
#: at most 100 over the default range).
WINDOW = 40.0


def _profile(b: np.ndarray, q: np.ndarray, amplitude_range: tuple[float, float]) -> np.ndarray:
    """The log-likelihood at the best A within the prior's range, for each b = g'P s and
    Q = g'P g (up to a constant per pulse)."""
    mu = b / q
    best = np.clip(mu, *amplitude_range)
    return 0.5 * b**2 / q - 0.5 * q * (best - mu) ** 2


def _window(
    x: np.ndarray, readout: Readout, coarse: np.ndarray, amplitude_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The t0 interval of each pulse where its profile likelihood on the ``coarse`` grid is
    within :data:`WINDOW` of its maximum, widened by one grid step on each side."""
    g = readout.template(coarse)
    weights = g @ readout.precision
    q = (weights * g).sum(axis=1)
    profile = _profile(x @ weights.T, q, amplitude_range)
    inside = profile >= profile.max(axis=1, keepdims=True) - WINDOW
    first = inside.argmax(axis=1)
    last = len(coarse) - 1 - inside[:, ::-1].argmax(axis=1)
    lo = coarse[np.maximum(first - 1, 0)]
    hi = coarse[np.minimum(last + 1, len(coarse) - 1)]
    return lo, hi


def _moments(
    t0: np.ndarray,
    b: np.ndarray,
    q: np.ndarray,
    log_trapezoid: np.ndarray,
    nodes: np.ndarray,
    log_node_weights: np.ndarray,
    amplitude_range: tuple[float, float],
    width: float,
) -> np.ndarray:
    """(mean A, mean t0, sd A, sd t0) per pulse from its t0 grid (``(c, T)``, equally
    spaced: the step cancels in the normalisation) and b, Q there."""
    log_density, amplitude = _clean_density(
        b, q, log_trapezoid, nodes, log_node_weights, amplitude_range, width
    )
    _, moments, _ = _summary(log_density, amplitude, t0, 0.0)
    return _mean_and_sd(moments)


def _clean_density(
    b: np.ndarray,
    q: np.ndarray,
    log_trapezoid: np.ndarray,
    nodes: np.ndarray,
    log_node_weights: np.ndarray,
    amplitude_range: tuple[float, float],
    width: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The unnormalised log posterior density of one pulse alone, A b - Q A^2 / 2 - log A
    plus the quadrature weights, at Gauss-Legendre nodes in A around b / Q at each t0
    point; and those nodes (``(c, T, K)`` both)."""
    amplitude, log_a = _nodes(
        b / q, 1.0 / np.sqrt(q), amplitude_range, nodes, log_node_weights, width
    )
    log_density = amplitude * b[..., None] - 0.5 * q[..., None] * amplitude**2
    log_density += log_a - np.log(amplitude) + log_trapezoid[:, None]  # 1/A: the prior
    return log_density, amplitude


def _mean_and_sd(moments: np.ndarray) -> np.ndarray:
    """(E[A], E[A^2], E[t0], E[t0^2]) per row -> (mean A, mean t0, sd A, sd t0)."""
    mean_a, mean_a2, mean_t, mean_t2 = moments.T
    return np.column_stack(
        [
            mean_a,
            mean_t,
            np.sqrt(np.maximum(mean_a2 - mean_a**2, 0.0)),
            np.sqrt(np.maximum(mean_t2 - mean_t**2, 0.0)),
        ]
    )


def pileup_posterior_moments(
    samples: np.ndarray,
    readout: Readout,
    amplitude_range: Sequence[float],
    t0_range: Sequence[float],
    pileup_probability: float,
    crossings: Sequence[int],
    pileup_amplitude_range: Sequence[float],
    *,
    t0_points: int = 201,
    nodes: int = 16,
    width: float = 8.0,
    chunk: int = 16,
    t0_intervals: Sequence[tuple[float, str]] = (),
) -> pd.DataFrame:
    """The posterior mean and standard deviation of A and t0 under the prior of a dataset
    with pile-up: no second pulse with probability 1 - ``pileup_probability``, else one at
    a crossing drawn uniformly from ``crossings`` (the same phase, ``t0 + c`` clock periods
    later) with an amplitude B log-uniform over ``pileup_amplitude_range``; columns
    :data:`COLUMNS`, ``pileup_probability`` (the posterior probability of a second
    pulse) and, for each (content, suffix) of ``t0_intervals``, the central interval of
    the posterior of t0 of that content (``t0_lo<suffix>``, ``t0_hi<suffix>``: its
    quantiles, from the CDF on the t0 grid), whose coverage measures what a network's
    intervals can reach.

    Each hypothesis is integrated apart and they are weighed by their evidence. t0 runs over
    its whole range on ``t0_points`` points, then again on the window where that found the
    posterior's mass (a large pile-up pulse pins the phase far more tightly than the in-time
    pulse); with a second pulse, B by ``nodes`` Gauss-Legendre nodes around its conditional
    mean and, for each, A likewise: ``2 x crossings x t0_points x nodes^2`` terms a pulse,
    a few hundred times the clean case (a measurement on a sample, not run on every test
    pulse).
    """
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    settings = {
        "readout": readout,
        "amplitude_range": (float(amplitude_range[0]), float(amplitude_range[1])),
        "pileup_probability": float(pileup_probability),
        "crossings": tuple(crossings),
        "pileup_amplitude_range": (
            float(pileup_amplitude_range[0]),
            float(pileup_amplitude_range[1]),
        ),
        "t0_points": t0_points,
        "nodes": nodes,
        "width": width,
    }
    tails = [p for content, _ in t0_intervals for p in (0.5 * (1 - content), 0.5 * (1 + content))]
    out = np.empty((len(samples), 5 + len(tails)))
    for start in range(0, len(samples), chunk):
        x = samples[start : start + chunk]
        lo = np.full(len(x), float(t0_range[0]))
        hi = np.full(len(x), float(t0_range[1]))
        for _ in range(2):
            moments, p_t0, t0 = _pileup_chunk(x, lo, hi, **settings)
            inside = p_t0 > 1e-14 * p_t0.max(axis=1, keepdims=True)
            first = inside.argmax(axis=1)
            last = t0_points - 1 - inside[:, ::-1].argmax(axis=1)
            rows = np.arange(len(x))
            lo = t0[rows, np.maximum(first - 1, 0)]
            hi = t0[rows, np.minimum(last + 1, t0_points - 1)]
        out[start : start + chunk, :5] = moments
        out[start : start + chunk, 5:] = _grid_quantiles(p_t0, t0, tails)
    names = [f"t0_{end}{suffix}" for _, suffix in t0_intervals for end in ("lo", "hi")]
    return pd.DataFrame(out, columns=[*COLUMNS, "pileup_probability", *names])


def _grid_quantiles(
    density: np.ndarray, grid: np.ndarray, probabilities: Sequence[float]
) -> np.ndarray:
    """Quantiles (``(c, len(probabilities))``) of each row's distribution given by its
    masses ``density`` at the points ``grid`` (``(c, T)``), each mass centred on its point
    and the CDF interpolated linearly between them."""
    out = np.empty((len(density), len(probabilities)))
    if not len(probabilities):
        return out
    cdf = np.cumsum(density, axis=1) - 0.5 * density
    cdf /= density.sum(axis=1, keepdims=True)
    for row in range(len(density)):
        out[row] = np.interp(probabilities, cdf[row], grid[row])
    return out


def _pileup_chunk(
    x: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    readout: Readout,
    amplitude_range: tuple[float, float],
    pileup_probability: float,
    crossings: tuple[int, ...],
    pileup_amplitude_range: tuple[float, float],
    t0_points: int,
    nodes: int,
    width: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pileup_posterior_moments` of a chunk on each pulse's t0 grid from ``lo`` to
    ``hi``: the moments (c, 5), the posterior of t0 on the grid (c, T) and the grid."""
    t0 = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, t0_points)  # (c, T)
    # the step differs between pulses, not between hypotheses: it cancels
    log_trapezoid = np.log(np.r_[0.5, np.ones(t0_points - 2), 0.5])
    gl_nodes, gl_weights = np.polynomial.legendre.leggauss(nodes)
    log_gl = np.log(gl_weights)
    precision = readout.precision
    g1 = readout.template(t0)  # (c, T, n)
    w1 = g1 @ precision
    q11 = (w1 * g1).sum(axis=-1)  # (c, T)
    b1 = np.einsum("ctn,cn->ct", w1, x)
    sigma_a = 1.0 / np.sqrt(q11)
    log_density, a = _clean_density(
        b1, q11, log_trapezoid, gl_nodes, log_gl, amplitude_range, width
    )
    b_lo, b_hi = pileup_amplitude_range
    with np.errstate(divide="ignore"):  # a probability of 0 or 1: a hypothesis of weight 0
        clean_weight = float(np.log1p(-pileup_probability))
        pileup_weight = np.log(pileup_probability / len(crossings)) - np.log(np.log(b_hi / b_lo))
    hypotheses = [_summary(log_density, a, t0, clean_weight)]
    for crossing in crossings:
        g2 = readout.template(t0 + crossing * readout.clock_period)
        w2 = g2 @ precision
        q12, q22 = (w1 * g2).sum(axis=-1), (w2 * g2).sum(axis=-1)
        b2 = np.einsum("ctn,cn->ct", w2, x)
        schur = np.maximum(q22 - q12**2 / q11, 1e-12)
        mu_b = (b2 - b1 * q12 / q11) / schur
        b, log_b = _nodes(
            mu_b, 1.0 / np.sqrt(schur), pileup_amplitude_range, gl_nodes, log_gl, width
        )  # (c, T, K)
        mu_a = (b1[..., None] - b * q12[..., None]) / q11[..., None]  # A given B
        a, log_a = _nodes(mu_a, sigma_a[..., None], amplitude_range, gl_nodes, log_gl, width)
        bb = b[..., None]  # (c, T, K, 1) against a's (c, T, K, K)
        log_density = a * b1[..., None, None] + bb * b2[..., None, None]
        log_density -= 0.5 * q11[..., None, None] * a**2 + q12[..., None, None] * a * bb
        log_density -= 0.5 * q22[..., None, None] * bb**2
        log_density += log_a + log_b[..., None] - np.log(a) - np.log(bb)
        log_density += log_trapezoid[:, None, None]
        hypotheses.append(_summary(log_density, a, t0, pileup_weight))
    evidence = np.stack([h[0] for h in hypotheses], axis=1)  # (c, H)
    probability = np.exp(evidence - logsumexp(evidence, axis=1, keepdims=True))
    moments = np.einsum("ch,hcm->cm", probability, np.stack([h[1] for h in hypotheses]))
    p_t0 = np.einsum("ch,hct->ct", probability, np.stack([h[2] for h in hypotheses]))
    return np.column_stack([_mean_and_sd(moments), 1.0 - probability[:, 0]]), p_t0, t0


def _nodes(
    mean: np.ndarray,
    sigma: np.ndarray,
    bounds: tuple[float, float],
    gl_nodes: np.ndarray,
    log_gl: np.ndarray,
    width: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (a new last axis) over mean +- ``width`` sigma within ``bounds``
    (a mean outside: the edge), and the log of their weights times the half-interval."""
    lo_bound, hi_bound = bounds
    centre = np.clip(mean, lo_bound, hi_bound)
    lo = np.maximum(lo_bound, centre - width * sigma)
    hi = np.minimum(hi_bound, centre + width * sigma)
    half = 0.5 * (hi - lo)
    values = (0.5 * (hi + lo))[..., None] + half[..., None] * gl_nodes
    return values, np.log(half)[..., None] + log_gl


def _summary(
    log_density: np.ndarray, amplitude: np.ndarray, t0: np.ndarray, log_prior: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hypothesis: its log evidence (c,), its (E[A], E[A^2], E[t0], E[t0^2]) (c, 4) and
    its posterior of t0 on the grid (c, T), from its log density over (c, T, nodes...)."""
    axes = tuple(range(1, log_density.ndim))
    log_z = logsumexp(log_density, axis=axes)
    p = np.exp(log_density - log_z.reshape(-1, *([1] * len(axes))))
    p_t0 = p.sum(axis=axes[1:])
    moments = np.column_stack(
        [
            (p * amplitude).sum(axis=axes),
            (p * amplitude**2).sum(axis=axes),
            (p_t0 * t0).sum(axis=1),
            (p_t0 * t0**2).sum(axis=1),
        ]
    )
    return log_z + log_prior, moments, p_t0
