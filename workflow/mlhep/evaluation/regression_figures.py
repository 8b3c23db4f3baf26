"""Figures of the pulse regression: resolution and bias relative to the Cramer-Rao bound
against A/sigma and against the phase, pull distributions, and example pulses. Each
drawing function takes an ``ax`` and returns its artists (hist's convention); the ``*_figure``
functions lay them out and return the figure, for :func:`mlhep.plotting.save_figure`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlhep.data.pulse.readout import Readout
from mlhep.evaluation.regression import VARIABLES
from mlhep.plotting import CURVE_COLOURS, new_figure, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MARKERS = "osD^vP*Xph"
YLABELS = {
    ("amplitude", "rms_ratio"): r"RMS (robust: dotted) of $\hat A - A$ / bound",
    ("amplitude", "bias_ratio"): r"bias$(\hat A)$ / bound",
    ("t0", "rms_ratio"): r"RMS (robust: dotted) of $\hat t_0 - t_0$ / bound",
    ("t0", "bias_ratio"): r"bias$(\hat t_0)$ / bound",
}


def colour(i: int) -> str:
    """The i-th curve colour (cycling)."""
    return CURVE_COLOURS[i % len(CURVE_COLOURS)]


@styled
def draw_ratio(
    ax: Axes,
    table: pd.DataFrame,
    axis: str,
    variable: str,
    statistic: str,
    methods: Sequence[str],
    robust: bool = False,
) -> list[Any]:
    """One line per method of ``statistic`` against the bin centres of ``axis`` (with
    ``robust``, the robust width's ratio dotted beside the RMS's)."""
    artists = []
    for i, method in enumerate(methods):
        rows = table[
            (table["method"] == method)
            & (table["variable"] == variable)
            & (table["axis"] == axis)
            & (table["n"] > 0)
        ]
        if rows.empty:
            continue
        lo, hi = rows["low"].to_numpy(), rows["high"].to_numpy()
        centre = np.sqrt(lo * hi) if axis == "amplitude" else 0.5 * (lo + hi)
        artists += ax.plot(
            centre,
            rows[statistic],
            marker=MARKERS[i % len(MARKERS)],
            color=colour(i),
            lw=1.8,
            ms=6,
            label=method,
        )
        if statistic == "rms_ratio" and robust:
            artists += ax.plot(centre, rows["robust_ratio"], ls=":", color=colour(i), lw=1.5)
    reference = 1.0 if statistic == "rms_ratio" else 0.0
    artists.append(ax.axhline(reference, color="k", lw=1, ls="--"))
    return artists


@styled
def ratio_figure(
    table: pd.DataFrame,
    axis: str,
    methods: Sequence[str],
    title: str = "",
) -> Figure:
    """RMS (solid) and robust width (dotted) over the bound, and bias over the bound, of A
    (top) and t0 (bottom) against A/sigma or the phase."""
    fig, axes = new_figure(2, 2, figsize=(15, 11), sharex=True, layout="tight")
    for row, variable in enumerate(VARIABLES):
        for col, statistic in enumerate(("rms_ratio", "bias_ratio")):
            ax = axes[row, col]
            draw_ratio(ax, table, axis, variable, statistic, methods, robust=True)
            ax.set_ylabel(YLABELS[variable, statistic])
            if statistic == "rms_ratio":
                ax.set_yscale("log")
            else:
                ax.set_yscale("symlog", linthresh=0.3)
            if axis == "amplitude":
                ax.set_xscale("log")
            if row == 1:
                ax.set_xlabel(r"$A/\sigma$" if axis == "amplitude" else r"true $t_0$ (ns)")
    axes[0, 0].legend(loc="upper right", fontsize=11, ncol=2)
    if title:
        fig.suptitle(title)
    return fig


@styled
def draw_pulls(
    ax: Axes,
    pulls: Mapping[str, np.ndarray],
    xlabel: str,
    colours: Mapping[str, str] | None = None,
) -> list[Any]:
    """Pull histograms (density) of each method, with the unit Gaussian (``colours`` by
    method: the same as in the other figures)."""
    bins = np.linspace(-5, 5, 51)
    artists: list[Any] = []
    for i, (method, pull) in enumerate(pulls.items()):
        pull = pull[np.isfinite(pull)]
        label = f"{method} (std {pull.std():.2f})"
        artists += ax.hist(
            np.clip(pull, -5, 5),
            bins=bins,
            density=True,
            histtype="step",
            lw=1.8,
            color=(colours or {}).get(method, colour(i)),
            label=label,
        )[2]
    x = np.linspace(-5, 5, 201)
    artists += ax.plot(x, np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi), "k--", lw=1.2, label="N(0, 1)")
    ax.set(xlabel=xlabel, ylabel="density", yscale="log", ylim=(1e-4, 1.5))
    ax.legend(loc="upper right", fontsize=10)
    return artists


@styled
def pulls_figure(
    truth: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    title: str = "",
) -> Figure:
    """The pulls (estimate - truth) / predicted sigma of A and t0 for every method that
    predicts an uncertainty (overflow in the edge bins)."""
    fig, axes = new_figure(1, 2, figsize=(16, 6.5), layout="tight")
    for ax, (variable, (estimate, sigma, _)) in zip(axes, VARIABLES.items(), strict=True):
        pulls = {}
        for method, frame in predictions.items():
            frame = frame.reindex(truth.index)
            if sigma in frame and np.isfinite(frame[sigma]).any():
                width = frame[sigma].to_numpy()
                usable = np.isfinite(width) & (width > 0)  # as the table's pulls
                error = (frame[estimate] - truth[variable]).to_numpy()
                pulls[method] = error[usable] / width[usable]
        colours = {method: colour(i) for i, method in enumerate(predictions)}
        draw_pulls(ax, pulls, f"pull of {'$A$' if variable == 'amplitude' else '$t_0$'}", colours)
    if title:
        fig.suptitle(title)
    return fig


@styled
def draw_pulse(
    ax: Axes,
    readout: Readout,
    samples: np.ndarray,
    truth: Mapping[str, float],
    fitted: tuple[float, float] | None = None,
    fit_label: str = "template fit",
) -> list[Any]:
    """One pulse: its samples with the noise as error bars, the true in-time pulse (and the
    pile-up pulse), and a fitted in-time pulse."""
    from mlhep.data.pulse.shape import crrc_pulse

    t = np.linspace(readout.times[0] - 10, readout.times[-1] + 10, 400)
    shape = {"peaking_time": readout.peaking_time, "order": readout.order}
    artists = list(
        ax.plot(
            t,
            crrc_pulse(t, truth["amplitude"], truth["t0"], **shape),
            "k-",
            lw=1.5,
            label="true pulse",
        )
    )
    if truth.get("pileup_amplitude", 0) > 0:
        pileup = crrc_pulse(t, truth["pileup_amplitude"], truth["pileup_t0"], **shape)
        artists += ax.plot(t, pileup, ":", color="#bd1f01", lw=1.5, label="pile-up pulse")
    if fitted is not None:
        artists += ax.plot(
            t,
            crrc_pulse(t, fitted[0], fitted[1], **shape),
            "--",
            color="#3f90da",
            lw=1.5,
            label=fit_label,
        )
    artists.append(
        ax.errorbar(
            readout.times, samples, yerr=readout.noise, fmt="o", color="k", ms=5, label="samples"
        )
    )
    ax.set(xlabel="t (ns)", ylabel=rf"signal ($\sigma$ = {readout.noise:g})")
    return artists


@styled
def pulses_figure(
    test: pd.DataFrame,
    columns: Sequence[str],
    readout: Readout,
    fitted: pd.DataFrame | None = None,
    fit_label: str = "template fit",
) -> Figure:
    """Four test pulses (low, medium and high amplitude, and one with pile-up where there is
    any) with the truth and, where given, a fit's in-time pulse (``fitted`` by event id)."""
    picks = []
    a = test["amplitude"].to_numpy()
    clean = test["pileup"].to_numpy() == 0
    for target in (4.0 * readout.noise, 20.0 * readout.noise, 100.0 * readout.noise):
        pool = np.flatnonzero(clean) if clean.any() else np.arange(len(test))
        picks.append(pool[np.abs(a[pool] - target).argmin()])
    piled = np.flatnonzero(~clean)
    picks.append(piled[0] if len(piled) else int(np.abs(a - 50.0 * readout.noise).argmin()))
    fig, axes = new_figure(2, 2, figsize=(15, 11), layout="tight")
    for ax, row in zip(axes.flat, picks, strict=True):
        event = test.iloc[row]
        fit = None
        if fitted is not None and event["event_id"] in fitted.index:
            est = fitted.loc[event["event_id"]]
            fit = (float(est["amplitude_hat"]), float(est["t0_hat"]))
        draw_pulse(
            ax, readout, event[list(columns)].to_numpy(float), event.to_dict(), fit, fit_label
        )
        ax.set_title(
            rf"$A/\sigma$ = {event['amplitude'] / readout.noise:.1f}, "
            rf"$t_0$ = {event['t0']:.1f} ns",
            fontsize=14,
        )
        ax.legend(loc="upper right", fontsize=10)
    return fig
