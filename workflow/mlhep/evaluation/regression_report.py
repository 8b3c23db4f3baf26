"""The evaluation of one regression (pulse) dataset, as rule ``evaluate_regression`` runs
it: every method's test predictions against the truth and the Cramer-Rao bound, the table,
the summary, the figures, and the metrics each method's MLflow run gets."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlhep import io, plotting
from mlhep.data.pulse.bound import cramer_rao
from mlhep.data.pulse.readout import Readout, sample_columns
from mlhep.evaluation import regression, regression_figures


def test_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """A predictions file's test rows, indexed by event id."""
    return predictions[predictions["split"] == "test"].set_index("event_id")


def evaluate_dataset(
    test: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    records: Sequence[Mapping[str, Any]],
    readout_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
    outputs: Mapping[str, str | os.PathLike[str]],
    dataset: str = "",
) -> dict[str, Any]:
    """Evaluate every method (``predictions`` by label, in the order of ``records``) on the
    test split; write the table and the figures to ``outputs`` (keys as
    :meth:`mlhep.plan.Plan.regression_files`); return the summary and each record's
    MLflow metrics."""
    readout = Readout.from_settings(readout_settings)
    truth = regression.truth_table(test, readout)
    tests = {label: test_rows(frame) for label, frame in predictions.items()}
    reference = bayes_reference(test, readout, readout_settings, settings)
    if reference is not None:
        tests[regression.REFERENCE] = reference
    bins = list(settings["amplitude_bins"])
    table = regression.resolution_table(
        truth,
        tests,
        bins,
        settings["phase_bins"],
        readout_settings["t0_range"],
        settings["phase_min_amplitude"],
    )
    table = regression.with_reference(table)
    summary = regression.summary(table, bins)
    phase_bias = regression.phase_bias_table(
        truth,
        tests,
        bins,
        settings["phase_bias_max_amplitude"],
        settings["phase_bins"],
        readout_settings["t0_range"],
    )
    amplitude_bound, t0_bound = cramer_rao(truth["amplitude"], truth["t0"], readout)
    summary.update(
        dataset=dataset,
        n_test=len(truth),
        pileup_fraction=float(truth["pileup"].mean()),
        bound={
            "amplitude_rms": float(np.sqrt(np.mean(amplitude_bound**2))),
            "t0_rms_times_a_over_sigma": float(
                np.sqrt(np.mean((t0_bound * truth["a_over_sigma"]) ** 2))
            ),
        },
        readout=dict(readout_settings),
        settings=dict(settings),
        reference=regression.REFERENCE if reference is not None else None,
    )
    io.write_csv(outputs["table"], table)
    io.write_csv(outputs["phase_bias_table"], phase_bias)
    methods = list(tests)
    title = f"{dataset}: pile-up in {100 * summary['pileup_fraction']:.0f}% of the pulses"
    save = plotting.save_figure
    save(regression_figures.ratio_figure(table, "amplitude", methods, title), outputs["resolution"])
    phase_title = f"{title}; A/sigma >= {settings['phase_min_amplitude']:g}"
    save(regression_figures.ratio_figure(table, "phase", methods, phase_title), outputs["phase"])
    save(regression_figures.pulls_figure(truth, tests, title), outputs["pulls"])
    save(regression_figures.coverage_figure(table, methods, title), outputs["coverage"])
    save(regression_figures.phase_bias_figure(phase_bias, methods, title), outputs["phase_bias"])
    # the fit drawn on the example pulses: the pile-up-aware one where there is pile-up
    fit = "template_fit_pileup" if summary["pileup_fraction"] > 0 else "template_fit"
    label = next((k for k, r in zip(predictions, records, strict=True) if r["model"] == fit), None)
    samples = sample_columns(readout.n_samples)
    pulses = regression_figures.pulses_figure(
        test, samples, readout, tests[label] if label else None, fit.replace("_", " ")
    )
    save(pulses, outputs["pulses"])
    curves = {k: r for k, r in zip(predictions, records, strict=True) if r.get("curves")}
    if curves:
        save(plotting.training_history_figure(curves, "epoch"), outputs["training"])
    else:
        fig, ax = plotting.new_figure(figsize=(6, 2))
        plotting.draw_placeholder(ax, "no network regressor is trained")
        save(fig, outputs["training"])
    scans = [r for r in records if r.get("threshold_scan")]
    if scans:
        record = scans[0]
        fig = regression_figures.threshold_figure(
            record["threshold_scan"],
            record["p_value_chosen"],
            f"{dataset}: {record['model']}, threshold chosen on the validation split",
        )
    else:
        fig, ax = plotting.new_figure(figsize=(6, 2))
        plotting.draw_placeholder(ax, "no pile-up threshold is chosen on this dataset")
    save(fig, outputs["pileup_threshold"])
    metrics = [regression.headline_metrics(summary["methods"][k]) for k in predictions]
    return {"summary": summary, "metrics": metrics}


def bayes_reference(
    test: pd.DataFrame,
    readout: Readout,
    readout_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> pd.DataFrame | None:
    """The posterior mean and standard deviation of every test pulse under the dataset's
    prior, indexed by event id, or None where it is off or the dataset has pile-up (whose
    prior this quadrature does not hold), or a pedestal."""
    if not settings["posterior_mean"]:
        return None
    if readout_settings.get("pileup_probability", 0.0) > 0 or readout.pedestal:
        return None
    from mlhep.data.pulse.posterior import posterior_moments

    posterior = posterior_moments(
        test[sample_columns(readout.n_samples)].to_numpy(),
        readout,
        readout_settings["amplitude_range"],
        readout_settings["t0_range"],
    )
    posterior.index = pd.Index(test["event_id"].to_numpy(), name="event_id")
    return posterior
