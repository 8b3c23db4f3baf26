"""The Bayes-optimal reference under pile-up, on a sample of a finished run's test pulses
(prints; not a test): in each low A/sigma bin, the RMS over the Cramer-Rao bound of the
posterior mean under the dataset's prior with pile-up (``mlhep.data.pulse.posterior.
pileup_posterior_moments``, about 30 ms a pulse, too slow for every test pulse of the
evaluation job) and of every trained regressor on the same pulses, each also over the
posterior mean's, the posterior's pull widths, the coverage of the t0 intervals of the
posterior and of every regressor that gives them, on all pulses and on the clean and
piled-up ones apart (the posterior's own: what calibrated intervals can reach in a bin of
the true A/sigma), and its time a pulse.

Usage: python benchmarks/pulse_posterior_pileup.py [--results results] [--dataset
pulse_pileup] [--per-bin 600]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlhep.data.pulse.bound import cramer_rao
from mlhep.data.pulse.posterior import pileup_posterior_moments
from mlhep.data.pulse.readout import SETTINGS_SCHEMA, Readout, sample_columns
from mlhep.evaluation.regression import COVERAGE, interval_hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--dataset", default="pulse_pileup")
    parser.add_argument("--per-bin", type=int, default=600)
    parser.add_argument("--bins", type=float, nargs="+", default=[2, 5, 10, 20])
    args = parser.parse_args()
    generation = json.loads((args.results / f"data/{args.dataset}/generation.json").read_text())
    settings = {**{k: v["default"] for k, v in SETTINGS_SCHEMA.items()}, **generation["readout"]}
    readout = Readout.from_settings(settings)
    test = pd.read_parquet(args.results / f"splits/{args.dataset}/test.parquet")
    predictions = {}
    for path in sorted((args.results / f"models/{args.dataset}").glob("*/*/predictions.parquet")):
        frame = pd.read_parquet(path)
        frame = frame[frame["split"] == "test"].set_index("event_id")
        predictions[path.parent.parent.name] = frame.reindex(test["event_id"].to_numpy())
    amplitude, t0 = test["amplitude"].to_numpy(), test["t0"].to_numpy()
    rng = np.random.default_rng(0)
    print(
        f"{args.dataset}: RMS over the bound (A, t0), and over the posterior mean's, on "
        f"{args.per_bin} test pulses a bin"
    )
    for lo, hi in zip(args.bins[:-1], args.bins[1:], strict=True):
        rows = np.flatnonzero((amplitude >= lo) & (amplitude < hi))
        rows = np.sort(rng.choice(rows, min(args.per_bin, len(rows)), replace=False))
        start = time.perf_counter()
        posterior = pileup_posterior_moments(
            test[sample_columns(readout.n_samples)].to_numpy()[rows],
            readout,
            settings["amplitude_range"],
            settings["t0_range"],
            settings["pileup_probability"],
            settings["pileup_crossings"],
            settings["pileup_amplitude_range"],
            t0_intervals=COVERAGE,
        )
        seconds = (time.perf_counter() - start) / len(rows)
        bound_a, bound_t0 = cramer_rao(amplitude[rows], t0[rows], readout)
        estimates = {
            "posterior mean": posterior,
            **{m: f.iloc[rows] for m, f in predictions.items()},
        }
        print(f"A/sigma {lo:g}-{hi:g} ({1000 * seconds:.0f} ms a pulse):")
        reference = None  # the posterior mean's RMS: the first row
        for name, frame in estimates.items():
            error_a = frame["amplitude_hat"].to_numpy() - amplitude[rows]
            error_t0 = frame["t0_hat"].to_numpy() - t0[rows]
            rms = np.array(
                [
                    np.sqrt(np.mean((e / b) ** 2))
                    for e, b in ((error_a, bound_a), (error_t0, bound_t0))
                ]
            )
            reference = rms if reference is None else reference
            over = rms / reference
            print(f"  {name:22s} {rms[0]:7.3f} {rms[1]:7.3f}   / {over[0]:6.2f} {over[1]:6.2f}")
        pulls = [
            np.std(e / posterior[c].to_numpy())
            for e, c in (
                (posterior["amplitude_hat"].to_numpy() - amplitude[rows], "amplitude_sigma"),
                (posterior["t0_hat"].to_numpy() - t0[rows], "t0_sigma"),
            )
        ]
        print(f"  posterior pull widths   {pulls[0]:7.3f} {pulls[1]:7.3f}")
        for name, frame in estimates.items():  # the posterior's own t0 intervals first
            hits = interval_hits(frame, "t0", t0[rows])
            if hits:
                piled = test["pileup"].to_numpy()[rows].astype(bool)
                cover = "  ".join(
                    f"{suffix}%: {100 * h.mean():5.1f} +- {100 * h.std() / np.sqrt(len(h)):.1f}"
                    f" (clean {100 * h[~piled].mean():5.1f}, piled-up {100 * h[piled].mean():5.1f})"
                    for suffix, h in hits.items()
                )
                print(f"  t0 coverage {name:22s} {cover}")


if __name__ == "__main__":
    main()
