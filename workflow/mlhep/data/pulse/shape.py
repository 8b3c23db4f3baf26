"""Readout pulses of a CR-RC^n shaper: the response of a front-end (one CR differentiator,
n RC integrators) to a charge deposited at time t0,

    f(t) = A ((t - t0)/tau)^n exp(n (1 - (t - t0)/tau))  for t > t0, else 0,

normalised so that the peak is A, reached at the peaking time t0 + tau (H. Spieler,
Semiconductor Detector Systems, OUP 2005, ch. 4). The generalization studies fit noisy,
finely sampled pulses with polynomials; the ``pulse`` dataset (:mod:`.readout`) samples
them at the bunch-crossing clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def crrc_pulse(
    t: np.ndarray,
    amplitude: float = 1.0,
    t0: float = 0.0,
    peaking_time: float = 25.0,
    order: int = 2,
) -> np.ndarray:
    """The noiseless CR-RC^``order`` response at times ``t`` (peak ``amplitude`` at
    ``t0 + peaking_time``; zero before ``t0``)."""
    if peaking_time <= 0 or order < 1:
        raise ValueError(f"need peaking_time > 0 and order >= 1, got {peaking_time}, {order}")
    x = (np.asarray(t, dtype=float) - t0) / peaking_time
    out = np.zeros_like(x)
    after = x > 0
    out[after] = amplitude * x[after] ** order * np.exp(order * (1.0 - x[after]))
    return out


def crrc_derivative(
    t: np.ndarray,
    amplitude: float | np.ndarray = 1.0,
    t0: float | np.ndarray = 0.0,
    peaking_time: float = 25.0,
    order: int = 2,
) -> np.ndarray:
    """d f / d t of :func:`crrc_pulse` at times ``t`` (per ns): the template's slope, which
    carries the timing information (the Fisher information and the optimal filter need it).
    ``amplitude`` and ``t0`` broadcast against ``t``."""
    x = (np.asarray(t, dtype=float) - t0) / peaking_time
    safe = np.where(x > 0, x, 1.0)
    slope = order / peaking_time * safe ** (order - 1) * np.exp(order * (1.0 - safe)) * (1.0 - safe)
    return np.where(x > 0, amplitude * slope, 0.0)


@dataclass(frozen=True)
class PulseSamples:
    """A noisy pulse sampled at times ``t``: ``y`` = truth + Gaussian noise."""

    t: np.ndarray
    y: np.ndarray
    truth: np.ndarray


def noisy_pulse(
    n: int,
    window: tuple[float, float],
    noise: float,
    rng: np.random.Generator,
    amplitude: float = 1.0,
    t0: float = 0.0,
    peaking_time: float = 25.0,
    order: int = 2,
) -> PulseSamples:
    """``n`` samples of one pulse, one at a uniformly drawn time in each of ``n`` equal
    parts of ``window`` (jittered sampling: the window is covered without large gaps, and
    independent draws sample different times), each with independent Gaussian noise of
    standard deviation ``noise``."""
    lo, hi = window
    if not hi > lo:
        raise ValueError(f"pulse window must have start < end, got {window}")
    t = lo + (np.arange(n) + rng.uniform(0.0, 1.0, n)) * (hi - lo) / n
    truth = crrc_pulse(t, amplitude, t0, peaking_time, order)
    return PulseSamples(t, truth + rng.normal(0.0, noise, n), truth)
