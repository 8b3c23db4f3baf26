"""Pulse regressors against the Cramer-Rao bound: bias, resolution (RMS and a robust width)
and pulls of the amplitude and the arrival time, overall, in bins of A/sigma, in bins of
the phase and, where there is pile-up, with and without it.

Every error is also divided by each pulse's own bound (:func:`mlhep.data.pulse.bound.
cramer_rao` at the true A and t0), so that ``rms_ratio`` = 1 is an efficient unbiased
estimator whatever the mix of pulses in a bin. The bound holds for unbiased estimators
only. At low A/sigma the estimator to compare with is the Bayes-optimal one, the posterior
mean under the dataset's prior (:mod:`mlhep.data.pulse.posterior`), which shrinks towards
the typical pulse and falls below the bound: where it is computed it is the row
:data:`REFERENCE`, and every row gives the method's RMS over its (``rms_over_bayes``). The
posterior mean minimises the squared error averaged over the whole prior; within one bin
of the true A/sigma another estimator can beat it there by losing elsewhere. Shrinkage
depends on the phase and cancels in an average over it: :func:`phase_bias_table` gives the
bias phase bin by phase bin in each low A/sigma bin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from mlhep.data.pulse.bound import cramer_rao
from mlhep.data.pulse.readout import Readout

#: The regression targets, the prediction columns of each, and the unit of its error.
VARIABLES = {
    "amplitude": ("amplitude_hat", "amplitude_sigma", "sigma"),
    "t0": ("t0_hat", "t0_sigma", "ns"),
}
#: The Bayes-optimal reference's label in the tables (computed, not trained).
REFERENCE = "posterior_mean"
#: The one-sigma quantiles of a Gaussian: half their distance is its sigma.
ONE_SIGMA = (0.15865525393145707, 0.8413447460685429)


#: The central intervals whose coverage is measured: (probability content, column suffix);
#: a method's own interval columns (``amplitude_lo68`` ...) where it gives them, else
#: +- 1 and 2 predicted sigmas (a Gaussian's intervals of that content).
COVERAGE = ((0.6826894921370859, "68"), (0.9544997361036416, "95"))


def mixture_cdf(
    weights: np.ndarray,
    means: np.ndarray,
    sigmas: np.ndarray,
    values: np.ndarray,
    upper: bool | np.ndarray = False,
) -> np.ndarray:
    """Each row's mixture of Gaussians (``(n, k)`` weights summing to 1, means, standard
    deviations) evaluated as a CDF at that row's value: at the truth, the probability
    integral transform, uniform where the mixture is calibrated. With ``upper`` (for all
    rows, or a row mask) the survival function 1 - CDF instead, exact far in the upper
    tail where the CDF rounds to 1."""
    from scipy.special import ndtr

    z = (np.asarray(values, dtype=float)[:, None] - means) / sigmas
    z = np.where(np.asarray(upper)[..., None], -z, z)
    return (np.asarray(weights) * ndtr(z)).sum(axis=1)


def mixture_quantiles(
    weights: np.ndarray,
    means: np.ndarray,
    sigmas: np.ndarray,
    probabilities: Sequence[float | np.ndarray | Callable[[np.ndarray], np.ndarray]],
    iterations: int = 60,
) -> list[np.ndarray]:
    """The quantiles at ``probabilities`` (each one number, one per row, or a function of
    the value: then the value x where the CDF equals that function at x) of each row's
    mixture of Gaussians (``(n, k)`` weights summing to 1, means, standard deviations), by
    bisection within the components' +-40 sigma; above the median on the survival
    function, so that a tail probability far beyond what the CDF resolves (a recalibrated
    interval of a badly trained network) is still found."""
    weights, means, sigmas = (np.asarray(a, dtype=float) for a in (weights, means, sigmas))
    low = (means - 40 * sigmas).min(axis=1)
    high = (means + 40 * sigmas).max(axis=1)
    out = []
    for probability in probabilities:
        fixed = None if callable(probability) else np.broadcast_to(probability, low.shape)
        lo, hi = low.copy(), high.copy()
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            level = np.asarray(probability(mid) if fixed is None else fixed, dtype=float)
            upper = level > 0.5
            tail = mixture_cdf(weights, means, sigmas, mid, upper)
            below = np.where(upper, tail > 1.0 - level, tail < level)
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        out.append(0.5 * (lo + hi))
    return out


def interval_hits(
    frame: pd.DataFrame, variable: str, truth: np.ndarray
) -> dict[str, np.ndarray] | None:
    """Per coverage level of :data:`COVERAGE`: 1.0 where the truth lies inside the method's
    interval, 0.0 outside, NaN where it gives none; None for a method without uncertainty."""
    _, sigma_column, _ = VARIABLES[variable]
    hits = {}
    for content, suffix in COVERAGE:
        lo_column, hi_column = f"{variable}_lo{suffix}", f"{variable}_hi{suffix}"
        if lo_column in frame and hi_column in frame:
            lo, hi = frame[lo_column].to_numpy(), frame[hi_column].to_numpy()
        elif sigma_column in frame and np.isfinite(frame[sigma_column]).any():
            from scipy.stats import norm

            half = norm.isf(0.5 * (1.0 - content)) * frame[sigma_column].to_numpy()
            centre = frame[VARIABLES[variable][0]].to_numpy()
            lo, hi = centre - half, centre + half
        else:
            return None
        valid = np.isfinite(lo) & np.isfinite(hi)
        hits[suffix] = np.where(valid, ((truth >= lo) & (truth <= hi)).astype(float), np.nan)
    return hits


def robust_width(values: np.ndarray) -> float:
    """Half the distance between the 15.9% and 84.1% quantiles: the standard deviation of a
    Gaussian, and insensitive to tails (pile-up, failed fits)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan")
    lo, hi = np.quantile(values, ONE_SIGMA)
    return float(0.5 * (hi - lo))


def truth_table(test: pd.DataFrame, readout: Readout) -> pd.DataFrame:
    """The test pulses' truth, A/sigma, pile-up flag and Cramer-Rao bounds, by event id."""
    bound_amplitude, bound_t0 = cramer_rao(
        test["amplitude"].to_numpy(), test["t0"].to_numpy(), readout
    )
    return pd.DataFrame(
        {
            "amplitude": test["amplitude"].to_numpy(),
            "t0": test["t0"].to_numpy(),
            "a_over_sigma": test["amplitude"].to_numpy() / readout.noise,
            "pileup": test["pileup"].to_numpy().astype(bool),
            "bound_amplitude": bound_amplitude,
            "bound_t0": bound_t0,
        },
        index=pd.Index(test["event_id"].to_numpy(), name="event_id"),
    )


def error_statistics(
    error: np.ndarray,
    bound: np.ndarray,
    sigma: np.ndarray | None,
    hits: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Bias, RMS and robust width of ``error``, of ``error / bound`` (``*_ratio``) and,
    where the method predicts an uncertainty ``sigma``, of the pull ``error / sigma``, and
    the coverage of its intervals (``coverage_68``, ``coverage_95``: the mean of ``hits``)."""
    finite = np.isfinite(error)
    coverage = {}
    for suffix, inside in (hits or {}).items():
        inside = inside[finite & np.isfinite(inside)]
        if len(inside):
            coverage[f"coverage_{suffix}"] = float(inside.mean())
    error, bound = error[finite], bound[finite]
    ratio = error / bound
    out = {
        "n": int(finite.sum()),
        "n_failed": int((~finite).sum()),
        "bias": float(error.mean()) if len(error) else float("nan"),
        "rms": float(np.sqrt(np.mean(error**2))) if len(error) else float("nan"),
        "robust": robust_width(error),
        "bound": float(np.sqrt(np.mean(bound**2))) if len(bound) else float("nan"),
        "bias_ratio": float(ratio.mean()) if len(ratio) else float("nan"),
        "rms_ratio": float(np.sqrt(np.mean(ratio**2))) if len(ratio) else float("nan"),
        "std_ratio": float(ratio.std()) if len(ratio) else float("nan"),
        "robust_ratio": robust_width(ratio),
    }
    if sigma is not None:
        sigma = sigma[finite]
        ok = np.isfinite(sigma) & (sigma > 0)
        if ok.any():
            pull = error[ok] / sigma[ok]
            out.update(
                pull_mean=float(pull.mean()),
                pull_width=float(pull.std()),
                pull_robust=robust_width(pull),
            )
    out.update(coverage)
    return out


def slices(
    truth: pd.DataFrame,
    amplitude_bins: Sequence[float],
    phase_bins: int,
    t0_range: Sequence[float],
    phase_min_amplitude: float,
) -> Iterator[tuple[str, float, float, np.ndarray]]:
    """(axis, low, high, mask) of every row of the table: all pulses; A/sigma bins; phase
    bins (pulses above ``phase_min_amplitude``); with and without pile-up where any."""
    yield "all", float("nan"), float("nan"), np.ones(len(truth), bool)
    a = truth["a_over_sigma"].to_numpy()
    in_bins = [
        (float(lo), float(hi), (a >= lo) & ((a <= hi) if hi == amplitude_bins[-1] else (a < hi)))
        for lo, hi in pairwise(amplitude_bins)
    ]
    for lo, hi, inside in in_bins:
        yield "amplitude", lo, hi, inside
    edges = np.linspace(t0_range[0], t0_range[1], phase_bins + 1)
    t0 = truth["t0"].to_numpy()
    for i, (lo, hi) in enumerate(pairwise(edges)):
        inside = (t0 >= lo) & ((t0 <= hi) if i == phase_bins - 1 else (t0 < hi))
        yield "phase", float(lo), float(hi), inside & (a >= phase_min_amplitude)
    if truth["pileup"].any():
        piled = truth["pileup"].to_numpy()
        for flag in (0, 1):
            yield "pileup", float(flag), float(flag), piled == bool(flag)
        # the A/sigma bins again, clean pulses and piled-up ones apart
        for axis, flag in (("amplitude_clean", False), ("amplitude_pileup", True)):
            for lo, hi, inside in in_bins:
                yield axis, lo, hi, inside & (piled == flag)


def resolution_table(
    truth: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    amplitude_bins: Sequence[float],
    phase_bins: int,
    t0_range: Sequence[float],
    phase_min_amplitude: float,
) -> pd.DataFrame:
    """One row per (method, variable, slice) with :func:`error_statistics`; ``predictions``
    are each method's test rows indexed by event id."""
    rows = []
    cuts = list(slices(truth, amplitude_bins, phase_bins, t0_range, phase_min_amplitude))
    for method, frame in predictions.items():
        frame = frame.reindex(truth.index)
        for variable, (estimate, sigma_column, unit) in VARIABLES.items():
            error = frame[estimate].to_numpy() - truth[variable].to_numpy()
            bound = truth[f"bound_{variable}"].to_numpy()
            sigma = frame[sigma_column].to_numpy() if sigma_column in frame else None
            if sigma is not None and not np.isfinite(sigma).any():
                sigma = None
            hits = interval_hits(frame, variable, truth[variable].to_numpy())
            for axis, lo, hi, mask in cuts:
                stats = error_statistics(
                    error[mask],
                    bound[mask],
                    sigma[mask] if sigma is not None else None,
                    {k: v[mask] for k, v in hits.items()} if hits else None,
                )
                rows.append(
                    {
                        "method": method,
                        "variable": variable,
                        "unit": unit,
                        "axis": axis,
                        "low": lo,
                        "high": hi,
                        **stats,
                    }
                )
    return pd.DataFrame(rows)


def with_reference(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``bayes_rms`` (the :data:`REFERENCE` row's RMS in the same variable
    and slice) and ``rms_over_bayes`` columns, NaN where the reference is absent."""
    keys = ["variable", "axis", "low", "high"]
    reference = table.loc[table["method"] == REFERENCE, [*keys, "rms"]]
    reference = reference.rename(columns={"rms": "bayes_rms"})
    # the slices' NaN edges ('all') must match: join on a filled copy of the keys
    left, right = table[keys].fillna(-1.0), reference[keys].fillna(-1.0)
    right = right.assign(bayes_rms=reference["bayes_rms"].to_numpy())
    merged = left.merge(right, on=keys, how="left")
    out = table.copy()
    out["bayes_rms"] = merged["bayes_rms"].to_numpy()
    out["rms_over_bayes"] = out["rms"] / out["bayes_rms"]
    return out


def phase_bias_table(
    truth: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    amplitude_bins: Sequence[float],
    max_amplitude: float,
    phase_bins: int,
    t0_range: Sequence[float],
) -> pd.DataFrame:
    """Bias and RMS over the bound of each method and variable in every phase bin of each
    A/sigma bin whose upper edge is at most ``max_amplitude``: one row per (method,
    variable, A/sigma bin, phase bin)."""
    a, t0 = truth["a_over_sigma"].to_numpy(), truth["t0"].to_numpy()
    edges = np.linspace(t0_range[0], t0_range[1], phase_bins + 1)
    phase = np.clip(np.searchsorted(edges, t0, side="right") - 1, 0, phase_bins - 1)
    rows = []
    for method, frame in predictions.items():
        frame = frame.reindex(truth.index)
        for variable, (estimate, _, unit) in VARIABLES.items():
            ratio = (frame[estimate].to_numpy() - truth[variable].to_numpy()) / truth[
                f"bound_{variable}"
            ].to_numpy()
            for lo, hi in pairwise(amplitude_bins):
                if hi > max_amplitude:
                    break
                in_bin = (a >= lo) & (a < hi) & np.isfinite(ratio)
                for k in range(phase_bins):
                    values = ratio[in_bin & (phase == k)]
                    rows.append(
                        {
                            "method": method,
                            "variable": variable,
                            "unit": unit,
                            "a_low": float(lo),
                            "a_high": float(hi),
                            "phase_low": float(edges[k]),
                            "phase_high": float(edges[k + 1]),
                            "n": len(values),
                            "bias_ratio": float(values.mean()) if len(values) else np.nan,
                            "bias_ratio_error": float(values.std() / np.sqrt(len(values)))
                            if len(values) > 1
                            else np.nan,
                            "rms_ratio": float(np.sqrt(np.mean(values**2)))
                            if len(values)
                            else np.nan,
                        }
                    )
    return pd.DataFrame(rows)


#: The statistics the summary keeps of each slice (with and without pile-up) ...
SUMMARY_KEYS = (
    "rms_ratio",
    "bias_ratio",
    "robust_ratio",
    "pull_width",
    "pull_robust",
    "coverage_68",
    "coverage_95",
    "n",
)
#: ... and, of the low, medium and high A/sigma bins, these besides.
BIN_KEYS = ("rms", "bias", "bound", "rms_over_bayes")


def summary(table: pd.DataFrame, amplitude_bins: Sequence[float]) -> dict[str, Any]:
    """Per method and variable: the ratios to the bound (and biases) over all pulses and at
    low, medium and high A/sigma (the first, middle and last bins), and the pull widths;
    ``order``: the methods in the table's order (JSON files keep keys sorted)."""
    names = {"low": 0, "medium": (len(amplitude_bins) - 1) // 2, "high": len(amplitude_bins) - 2}
    out: dict[str, Any] = {
        "ranges": {k: [amplitude_bins[i], amplitude_bins[i + 1]] for k, i in names.items()},
        "methods": {},
        "order": list(dict.fromkeys(table["method"])),
    }
    for (method, variable), part in table.groupby(["method", "variable"], sort=False):
        entry = {}
        overall = part[part["axis"] == "all"].iloc[0]
        entry["all"] = overall.drop(["method", "variable", "axis", "low", "high"]).to_dict()
        binned = part[part["axis"] == "amplitude"].reset_index(drop=True)
        for name, i in names.items():
            if i < len(binned):
                row = binned.iloc[i]
                entry[name] = {k: row[k] for k in (*SUMMARY_KEYS, *BIN_KEYS) if k in row}
        pileup = part[part["axis"] == "pileup"]
        for _, row in pileup.iterrows():
            key = "with_pileup" if row["low"] == 1 else "without_pileup"
            entry[key] = {k: row[k] for k in SUMMARY_KEYS if k in row}
        out["methods"].setdefault(method, {})[variable] = entry
    return out


def headline_metrics(summary_entry: Mapping[str, Any]) -> dict[str, float]:
    """Flat MLflow metrics of one method (``amplitude_rms_ratio_low``, ``t0_pull_width``, ...)."""
    metrics = {}
    for variable, entry in summary_entry.items():
        for part, values in entry.items():
            suffix = "" if part == "all" else f"_{part}"
            for key, value in values.items():
                if isinstance(value, int | float) and np.isfinite(value) and key != "n_failed":
                    metrics[f"{variable}_{key}{suffix}"] = float(value)
    return metrics
