"""How fast each pulse estimator is, and what each reaches against the Cramer-Rao bound.

Generates pulses with the default readout (CR-RC^2, 25 ns, 8 samples at 40 MHz, white
noise), runs every classical estimator and trains the two networks (default settings, the
device given), and prints pulses per second and the RMS of the error over the bound at
low, medium and high A/sigma, in one run (ratios, not absolute times, are what compares
across machines). ``--pileup 0.3`` adds pile-up.

    python benchmarks/pulse_regression.py [--train 150000] [--test 50000] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from mlhep.config import validate_config
from mlhep.data.pulse.bound import cramer_rao
from mlhep.data.pulse.readout import SETTINGS_SCHEMA, Readout, generate_pulses, sample_columns
from mlhep.models.base import hyperparameters, resolve_device
from mlhep.models.pulse import OptimalFilter, PeakSample, TemplateFit
from mlhep.models.pulse_nn import predict, train

RANGES = {"low": (2, 5), "medium": (20, 50), "high": (100, 200)}


def frame(settings: dict, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` pulses as a feature table (samples and truth)."""
    pulses = generate_pulses(settings, n, rng)
    table = pd.DataFrame(pulses["samples"], columns=sample_columns(settings["n_samples"]))
    table["amplitude"], table["t0"] = pulses["amplitude"], pulses["t0"]
    return table


def ratios(estimate: np.ndarray, test: pd.DataFrame, readout: Readout) -> str:
    """RMS of (estimate - truth) / bound for A and t0 in each A/sigma range."""
    amplitude, t0 = test["amplitude"].to_numpy(), test["t0"].to_numpy()
    bound_a, bound_t = cramer_rao(amplitude, t0, readout)
    parts = []
    for name, (lo, hi) in RANGES.items():
        rows = (amplitude >= lo) & (amplitude < hi)
        ra = np.sqrt(np.mean(((estimate[rows, 0] - amplitude[rows]) / bound_a[rows]) ** 2))
        rt = np.sqrt(np.mean(((estimate[rows, 1] - t0[rows]) / bound_t[rows]) ** 2))
        parts.append(f"{name} A {ra:5.2f} t0 {rt:5.2f}")
    return "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=150_000)
    parser.add_argument("--test", type=int, default=50_000)
    parser.add_argument("--pileup", type=float, default=0.0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = {k: v["default"] for k, v in SETTINGS_SCHEMA.items()}
    settings["pileup_probability"] = args.pileup
    readout = Readout.from_settings(settings)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    frames = {
        "train": frame(settings, args.train, rng),
        "validation": frame(settings, args.test, rng),
    }
    test = frame(settings, args.test, rng)
    print(f"generated {args.train + 2 * args.test} pulses in {time.perf_counter() - start:.2f} s")
    x = test[sample_columns(8)].to_numpy()
    crossings = tuple(settings["pileup_crossings"])
    estimators = {
        "peak_sample": PeakSample(settings),
        "optimal_filter_fixed": OptimalFilter(settings, iterations=0),
        "optimal_filter": OptimalFilter(settings),
        "template_fit": TemplateFit(settings),
        "template_fit_pileup": TemplateFit(settings, pileup_crossings=crossings),
    }
    for name, estimator in estimators.items():
        start = time.perf_counter()
        estimate = estimator.predict(x)
        seconds = time.perf_counter() - start
        print(f"{name:21s} {len(x) / seconds:12.0f} pulses/s   {ratios(estimate, test, readout)}")
    config: dict = {}
    validate_config(config)
    device = torch.device(resolve_device(args.device, True))
    for name, body in (("pulse_mlp", "mlp"), ("pulse_cnn", "cnn")):
        start = time.perf_counter()
        net, info = train(
            frames,
            sample_columns(8),
            body,
            hyperparameters(config["models"][name]),
            device,
            1,
            args.seed,
        )
        seconds = time.perf_counter() - start
        estimate = predict(net, x)
        print(
            f"{name:21s} {info['pulses_per_second']:12.0f} pulses/s trained ({seconds:.0f} s, "
            f"{info['epochs_run']} epochs, {device})   {ratios(estimate, test, readout)}"
        )


if __name__ == "__main__":
    main()
