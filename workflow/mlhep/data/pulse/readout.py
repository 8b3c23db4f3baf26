"""The ``pulse`` dataset: CR-RC^n pulses sampled at the bunch-crossing clock.

Each pulse has an amplitude A drawn log-uniformly, an arrival time t0 drawn uniformly over
a configurable range (the phase to the clock), and is sampled at t_k = k * clock_period
(25 ns: 40 MHz) for k = 0 ... n_samples - 1, with Gaussian noise of standard deviation
``noise`` and autocorrelation ``noise_autocorrelation`` (rho at lags 1, 2, ...; white when
empty). With probability ``pileup_probability`` a second pulse from another bunch crossing
(an offset of a whole number of clock periods, the same phase) adds to the samples. A
``pedestal_range`` other than [0, 0] adds an unknown constant baseline to each pulse, drawn
uniformly (after every other draw, and only then: a dataset without it is unchanged); the
estimators and the bound then treat it as a nuisance parameter.

Every random number is drawn whatever the pile-up probability, in a fixed order, so that two
datasets that differ only in their pile-up share the in-time pulses and the noise: their
comparison is paired. The events are a ROOT TTree ``events`` with the samples as one
fixed-size array branch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlhep import io
from mlhep.data import DatasetKind, Task
from mlhep.data.pulse.shape import crrc_derivative, crrc_pulse

#: The truth columns of a pulse (regression targets and pile-up truth), besides the samples.
TARGETS = ("amplitude", "t0")
TRUTH_COLUMNS = (*TARGETS, "pileup_amplitude", "pileup_t0", "pedestal")
#: Pulses generated per chunk (bounded memory for any size).
CHUNK = 100_000
MAX_SAMPLES = 32

_RANGE = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}

#: The config keys of a pulse dataset (beside ``kind`` and the generic ones).
SETTINGS_SCHEMA: dict[str, Any] = {
    "n_pulses": {
        "type": "integer",
        "minimum": 10,
        "default": 250000,
        "description": "Pulses to generate (all splits together).",
    },
    "order": {
        "type": "integer",
        "minimum": 1,
        "maximum": 8,
        "default": 2,
        "description": "n of the CR-RC^n shaper (1: the plain CR-RC, with a kink at t0).",
    },
    "peaking_time": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 25.0,
        "description": "Peaking time tau in ns: the pulse peaks at t0 + tau.",
    },
    "clock_period": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 25.0,
        "description": "Sampling period in ns (25 ns: the LHC's 40 MHz clock).",
    },
    "n_samples": {
        "type": "integer",
        "minimum": 3,
        "maximum": MAX_SAMPLES,
        "default": 8,
        "description": "Samples per pulse, at t = 0, 1, ... times the clock period.",
    },
    "t0_range": {
        **_RANGE,
        "default": [0.0, 25.0],
        "description": "Arrival time t0 in ns, drawn uniformly over [low, high].",
    },
    "amplitude_range": {
        **_RANGE,
        "default": [2.0, 200.0],
        "description": "Amplitude A (peak height), drawn log-uniformly.",
    },
    "noise": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 1.0,
        "description": "Standard deviation sigma of the noise on each sample.",
    },
    "noise_autocorrelation": {
        "type": "array",
        "items": {"type": "number", "minimum": -1, "maximum": 1},
        "default": [],
        "description": "Noise autocorrelation rho at lags 1, 2, ... samples (empty: white).",
    },
    "pileup_probability": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "default": 0.0,
        "description": "Probability of a second pulse from another crossing.",
    },
    "pileup_crossings": {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 1,
        "default": [-2, -1, 1, 2],
        "description": "Offsets (in clock periods) of the pile-up crossing, drawn uniformly.",
    },
    "pileup_amplitude_range": {
        **_RANGE,
        "default": [5.0, 200.0],
        "description": "Pile-up amplitude, drawn log-uniformly.",
    },
    "pedestal_range": {
        **_RANGE,
        "default": [0.0, 0.0],
        "description": "An unknown constant baseline added to each pulse, drawn uniformly over "
        "[low, high] (units of the samples); [0, 0]: none. Otherwise every estimator and the "
        "bound treat it as a nuisance parameter (the bound becomes 1.117 sigma and 27.2 ns / "
        "(A/sigma) for the default readout, RMS over the phase).",
    },
}


@dataclass(frozen=True)
class Readout:
    """The front-end a pulse dataset describes: shape, sampling and noise (what the
    classical estimators and the Cramer-Rao bound know)."""

    order: int = 2
    peaking_time: float = 25.0
    clock_period: float = 25.0
    n_samples: int = 8
    noise: float = 1.0
    noise_autocorrelation: tuple[float, ...] = ()
    #: an unknown constant baseline per pulse, estimated beside A and t0
    pedestal: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Readout:
        """The readout of a pulse dataset's config settings (other keys are ignored); a
        ``pedestal_range`` other than [0, 0] makes the pedestal a nuisance parameter (an
        explicit ``pedestal`` flag, as a saved estimator's settings hold it, wins)."""
        keys = ("order", "peaking_time", "clock_period", "n_samples", "noise")
        defaults = {k: v["default"] for k, v in SETTINGS_SCHEMA.items()}
        values = {k: settings.get(k, defaults[k]) for k in keys}
        rho = settings.get("noise_autocorrelation", ())
        pedestal = settings.get("pedestal")
        if pedestal is None:
            pedestal = any(float(v) != 0.0 for v in settings.get("pedestal_range", (0.0, 0.0)))
        return cls(
            **values, noise_autocorrelation=tuple(float(r) for r in rho), pedestal=bool(pedestal)
        )

    @cached_property
    def times(self) -> np.ndarray:
        """Sample times in ns."""
        return np.arange(self.n_samples) * float(self.clock_period)

    @cached_property
    def covariance(self) -> np.ndarray:
        """The noise covariance R of the samples (Toeplitz in the lag)."""
        rho = np.zeros(self.n_samples)
        rho[0] = 1.0
        lags = list(self.noise_autocorrelation)[: self.n_samples - 1]
        rho[1 : 1 + len(lags)] = lags
        lag = np.abs(np.subtract.outer(np.arange(self.n_samples), np.arange(self.n_samples)))
        return self.noise**2 * rho[lag]

    @cached_property
    def precision(self) -> np.ndarray:
        """R^-1 (symmetrised)."""
        inverse = np.linalg.inv(self.covariance)
        return 0.5 * (inverse + inverse.T)

    @cached_property
    def noise_factor(self) -> np.ndarray:
        """L with L L^T = R: correlated noise is L times white noise."""
        return np.linalg.cholesky(self.covariance)

    def template(self, t0: np.ndarray | float) -> np.ndarray:
        """The unit-amplitude pulse at the sample times for each arrival time (``(..., n)``)."""
        t0 = np.asarray(t0, dtype=float)[..., None]
        return crrc_pulse(self.times - t0, 1.0, 0.0, self.peaking_time, self.order)

    def slope(self, t0: np.ndarray | float) -> np.ndarray:
        """d template / d t at the sample times (per ns); d samples / d t0 = -A slope."""
        t0 = np.asarray(t0, dtype=float)[..., None]
        return crrc_derivative(self.times - t0, 1.0, 0.0, self.peaking_time, self.order)


def check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a schema cannot say about pulse settings: ordered ranges, positive amplitudes, a
    positive-definite noise covariance, a window that holds the pulse: (key, message)."""
    messages = []
    for key in ("t0_range", "amplitude_range", "pileup_amplitude_range", "pedestal_range"):
        lo, hi = settings[key]
        if not hi >= lo:
            messages.append((key, f"needs low <= high, got {[lo, hi]}"))
        elif key not in ("t0_range", "pedestal_range") and lo <= 0:
            messages.append((key, f"amplitudes are drawn log-uniformly and must be > 0, got {lo}"))
    lags = settings["noise_autocorrelation"]
    if len(lags) >= settings["n_samples"]:
        messages.append(
            (
                "noise_autocorrelation",
                f"{len(lags)} lags for {settings['n_samples']} samples (at most n_samples - 1)",
            )
        )
    else:
        readout = Readout.from_settings(settings)
        if np.linalg.eigvalsh(readout.covariance).min() <= 1e-9 * readout.noise**2:
            messages.append(
                (
                    "noise_autocorrelation",
                    f"{list(lags)} gives a noise covariance that is not positive definite",
                )
            )
    t_end = (settings["n_samples"] - 1) * settings["clock_period"]
    unseen = [
        c
        for c in settings["pileup_crossings"]
        if c == 0 or c * settings["clock_period"] + settings["t0_range"][0] >= t_end
    ]
    if unseen:
        messages.append(
            (
                "pileup_crossings",
                f"{unseen}: a pile-up crossing must differ from "
                "the in-time one (0) and its pulse must start before the last sample",
            )
        )
    if settings["t0_range"][1] + settings["peaking_time"] > t_end:
        messages.append(
            (
                "t0_range",
                f"a pulse arriving at {settings['t0_range'][1]} ns peaks "
                f"after the last sample ({t_end} ns); raise n_samples or lower t0_range",
            )
        )
    return messages


def log_uniform(
    rng: np.random.Generator, bounds: tuple[float, float] | list[float], n: int
) -> np.ndarray:
    """``n`` values drawn log-uniformly between ``bounds``."""
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    return np.exp(rng.uniform(lo, hi, n))


def generate_pulses(
    settings: Mapping[str, Any], n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``n`` pulses: the samples (``(n, n_samples)``) and their truth (:data:`TRUTH_COLUMNS`,
    ``pileup``; ``pileup_t0`` is NaN without pile-up). Every draw happens whatever the
    pile-up probability (see the module's docstring)."""
    readout = Readout.from_settings(settings)
    amplitude = log_uniform(rng, settings["amplitude_range"], n)
    t0 = rng.uniform(*settings["t0_range"], n)
    noise = rng.standard_normal((n, readout.n_samples)) @ readout.noise_factor.T
    has_pileup = rng.random(n) < settings["pileup_probability"]
    crossing = rng.choice(np.asarray(settings["pileup_crossings"]), n)
    pileup_amplitude = np.where(
        has_pileup, log_uniform(rng, settings["pileup_amplitude_range"], n), 0.0
    )
    pileup_t0 = np.where(has_pileup, t0 + crossing * readout.clock_period, np.nan)
    samples = amplitude[:, None] * readout.template(t0) + noise
    samples += pileup_amplitude[:, None] * readout.template(np.nan_to_num(pileup_t0))
    pedestal = np.zeros(n)
    if readout.pedestal:  # drawn last, and only here: datasets without one are unchanged
        pedestal = rng.uniform(*settings["pedestal_range"], n)
        samples += pedestal[:, None]
    return {
        "samples": samples,
        "amplitude": amplitude,
        "t0": t0,
        "pileup": has_pileup,
        "pileup_amplitude": pileup_amplitude,
        "pileup_t0": pileup_t0,
        "pedestal": pedestal,
    }


def branch_types(n_samples: int) -> dict[str, Any]:
    """The events tree's branches: the samples as one fixed-size float32 array."""
    return {
        "event_id": np.int64,
        "samples": np.dtype((np.float32, (n_samples,))),
        "amplitude": np.float64,
        "t0": np.float64,
        "pileup": np.int32,
        "pileup_amplitude": np.float64,
        "pileup_t0": np.float64,
        "pedestal": np.float64,
    }


def produce(
    events_path: str | os.PathLike[str],
    settings: Mapping[str, Any],
    seed: int,
    *,
    dataset: str = "",
) -> dict[str, Any]:
    """Generate a pulse dataset into a ROOT TTree ``events`` (atomically, chunk by chunk);
    return a record of what was generated."""
    rng = np.random.default_rng([seed, 0x5057])
    n_total, counts = int(settings["n_pulses"]), {"pileup": 0}
    start = time.perf_counter()

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for first in range(0, n_total, CHUNK):
            n = min(CHUNK, n_total - first)
            pulses = generate_pulses(settings, n, rng)
            counts["pileup"] += int(pulses["pileup"].sum())
            yield {
                **pulses,
                "event_id": np.arange(first, first + n, dtype=np.int64),
                "samples": pulses["samples"].astype(np.float32),
                "pileup": pulses["pileup"].astype(np.int32),
            }

    entries = io.write_root_tree(
        events_path, chunks(), branch_types(settings["n_samples"]), title="CR-RC^n readout pulses"
    )
    seconds = time.perf_counter() - start
    return {
        "kind": "pulse",
        "n_pulses": entries,
        "n_pileup": counts["pileup"],
        "pileup_fraction": counts["pileup"] / entries,
        "seconds": seconds,
        "pulses_per_second": entries / seconds if seconds > 0 else None,
        "readout": {k: settings[k] for k in SETTINGS_SCHEMA if k != "n_pulses"},
    }


def sample_columns(n_samples: int) -> list[str]:
    """The feature columns of the samples: ``s0``, ``s1``, ..."""
    return [f"s{k}" for k in range(n_samples)]


def build_features(events_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The feature table: ``event_id``, ``label`` and ``weight`` (0 and 1 for every pulse:
    the splits then depend on the event ids alone, so that datasets differing only in their
    pile-up share their test pulses), the samples as ``s0 ... s<n-1>``, the truth and the
    ``pileup`` flag."""
    import uproot  # here, not at import: the workflow's parse reads no file

    with uproot.open(events_path) as file:
        if io.TREE_NAME not in file:
            raise KeyError(f"{events_path}: no tree {io.TREE_NAME!r}")
        arrays = file[io.TREE_NAME].arrays(library="np")
    samples = np.asarray(arrays["samples"], dtype=np.float64)
    table = pd.DataFrame(samples, columns=sample_columns(samples.shape[1]))
    table.insert(0, "event_id", arrays["event_id"])
    table.insert(1, "label", np.zeros(len(table), dtype=np.int64))
    table.insert(2, "weight", 1.0)
    for column in TRUTH_COLUMNS:  # files written before the pedestal had none
        table[column] = arrays[column] if column in arrays else np.zeros(len(table))
    table["pileup"] = arrays["pileup"].astype(np.int64)
    return table


def layout(settings: Mapping[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The columns a pulse dataset's settings give, and its one default feature set."""
    n = settings.get("n_samples", SETTINGS_SCHEMA["n_samples"]["default"])
    return sample_columns(n), {"samples": sample_columns(n)}


#: The regressors trained on the ``samples`` feature set by default: the classical
#: estimators, then the networks.
DEFAULT_MODELS: dict[str, list[str]] = {
    m: ["samples"]
    for m in (
        "peak_sample",
        "optimal_filter_fixed",
        "optimal_filter",
        "template_fit",
        "template_fit_pileup",
        "pulse_mlp",
        "pulse_cnn",
    )
}


KIND = DatasetKind(
    name="pulse",
    description="CR-RC^n readout pulses sampled at 40 MHz, with the Cramer-Rao bound",
    settings_schema=SETTINGS_SCHEMA,
    columns=tuple(sample_columns(MAX_SAMPLES)),
    produce=produce,
    build_features=build_features,
    feature_sets={"samples": sample_columns(SETTINGS_SCHEMA["n_samples"]["default"])},
    labels={f"s{k}": f"sample {k}" for k in range(MAX_SAMPLES)},
    default_models=DEFAULT_MODELS,
    task=Task.REGRESSION,
    targets=TARGETS,
    layout=layout,
    check=check_settings,
)
