"""Figures of the pulse regression: resolution and bias relative to the Cramer-Rao bound
against A/sigma and against the phase, pull distributions, the coverage of the predicted
intervals, and example pulses. Each
drawing function takes an ``ax`` and returns its artists (hist's convention); the ``*_figure``
functions lay them out and return the figure, for :func:`mlhep.plotting.save_figure`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlhep.data.pulse.readout import Readout
from mlhep.evaluation.regression import COVERAGE, REFERENCE, VARIABLES
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


def line_style(i: int, method: str) -> dict[str, Any]:
    """The i-th method's line: colour and marker; the Bayes-optimal reference black and
    dashed, without markers, in every figure."""
    if method == REFERENCE:
        return {"color": "k", "ls": "--", "marker": None, "lw": 2.2}
    return {"color": colour(i), "marker": MARKERS[i % len(MARKERS)], "lw": 1.8}


def method_rows(
    table: pd.DataFrame, method: str, variable: str, axis: str, column: str | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """One method's non-empty rows of ``variable`` along ``axis`` (those with a ``column``
    value, if given) and their bins' centres: geometric in A/sigma, arithmetic in phase."""
    rows = table[
        (table["method"] == method)
        & (table["variable"] == variable)
        & (table["axis"] == axis)
        & (table["n"] > 0)
    ]
    if column is not None:
        rows = rows.dropna(subset=[column])
    lo, hi = rows["low"].to_numpy(), rows["high"].to_numpy()
    return rows, np.sqrt(lo * hi) if axis == "amplitude" else 0.5 * (lo + hi)


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
        rows, centre = method_rows(table, method, variable, axis)
        if rows.empty:
            continue
        style = line_style(i, method)
        artists += ax.plot(centre, rows[statistic], ms=6, label=method, **style)
        if statistic == "rms_ratio" and robust and method != REFERENCE:
            artists += ax.plot(centre, rows["robust_ratio"], ls=":", color=style["color"], lw=1.5)
    reference = 1.0 if statistic == "rms_ratio" else 0.0
    artists.append(ax.axhline(reference, color="grey", lw=1, ls="-"))
    return artists


@styled
def draw_phase_bias(
    ax: Axes, table: pd.DataFrame, variable: str, a_low: float, methods: Sequence[str]
) -> list[Any]:
    """The bias over the bound against the true phase, one line per method, in the A/sigma
    bin starting at ``a_low`` (rows of :func:`mlhep.evaluation.regression.phase_bias_table`),
    with the statistical error of each point as a band."""
    artists: list[Any] = []
    for i, method in enumerate(methods):
        rows = table[
            (table["method"] == method)
            & (table["variable"] == variable)
            & (table["a_low"] == a_low)
            & (table["n"] > 1)
        ]
        if rows.empty:
            continue
        centre = 0.5 * (rows["phase_low"] + rows["phase_high"]).to_numpy()
        bias, error = rows["bias_ratio"].to_numpy(), rows["bias_ratio_error"].to_numpy()
        style = line_style(i, method)
        artists += ax.plot(centre, bias, ms=5, label=method, **style)
        artists.append(
            ax.fill_between(centre, bias - error, bias + error, color=style["color"], alpha=0.12)
        )
    artists.append(ax.axhline(0.0, color="grey", lw=1))
    ax.set_ylim(*phase_bias_limits(table, variable, a_low))
    return artists


def phase_bias_limits(table: pd.DataFrame, variable: str, a_low: float) -> tuple[float, float]:
    """Y limits that show the typical method: 2.5 times the largest |bias| of the reference
    where there is one, else of the median method (methods far off leave the frame)."""
    rows = table[(table["variable"] == variable) & (table["a_low"] == a_low)]
    spread = rows.groupby("method")["bias_ratio"].apply(lambda b: float(np.nanmax(np.abs(b))))
    spread = spread.dropna()
    if spread.empty:
        return -1.0, 1.0
    scale = spread[REFERENCE] if REFERENCE in spread else float(spread.median())
    limit = max(0.3, 2.5 * scale)
    return -limit, limit


@styled
def phase_bias_figure(table: pd.DataFrame, methods: Sequence[str], title: str = "") -> Figure:
    """Bias over the bound of A (top) and t0 (bottom) against the true phase, one column per
    low A/sigma bin: a network's shrinkage towards the typical pulse shows as a slope that
    an average over the phase cancels; the posterior mean (dashed) shows what the prior
    makes optimal."""
    bins = table[["a_low", "a_high"]].drop_duplicates().sort_values("a_low").to_numpy()
    n = max(len(bins), 1)
    fig, axes = new_figure(2, n, figsize=(5.5 * n + 1, 10), sharex=True, layout="tight")
    axes = np.asarray(axes).reshape(2, n)
    for col, (a_low, a_high) in enumerate(bins):
        for row, variable in enumerate(VARIABLES):
            ax = axes[row, col]
            draw_phase_bias(ax, table, variable, a_low, methods)
            name = "$A$" if variable == "amplitude" else "$t_0$"
            ax.set_ylabel(f"bias({name}) / bound")
            if row == 0:
                ax.set_title(rf"$A/\sigma$ in [{a_low:g}, {a_high:g})", fontsize=14)
            else:
                ax.set_xlabel(r"true $t_0$ (ns)")
    axes[0, 0].legend(loc="best", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


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
        colours = {method: line_style(i, method)["color"] for i, method in enumerate(predictions)}
        draw_pulls(ax, pulls, f"pull of {'$A$' if variable == 'amplitude' else '$t_0$'}", colours)
    if title:
        fig.suptitle(title)
    return fig


#: How far from nominal a coverage may be and still count as calibrated (shaded band).
COVERAGE_TOLERANCE = 0.02
#: The coverage axis spans nominal +- this many points (at most 100%); a method outside is
#: drawn at the edge with an arrow-head marker pointing where it is.
COVERAGE_SPAN = 12.0


@styled
def draw_coverage(
    ax: Axes,
    table: pd.DataFrame,
    variable: str,
    content: float,
    suffix: str,
    methods: Sequence[str],
) -> list[Any]:
    """The coverage in percent of each method's ``suffix`` intervals against A/sigma, with
    its binomial standard error, the nominal ``content`` and a band of
    +-:data:`COVERAGE_TOLERANCE`; the axis spans nominal +-:data:`COVERAGE_SPAN` points,
    values beyond it drawn at the edge as triangles pointing out."""
    column = f"coverage_{suffix}"
    nominal = 100 * content
    low, high = nominal - COVERAGE_SPAN, min(100.0, nominal + COVERAGE_SPAN)
    artists: list[Any] = [
        ax.axhspan(
            nominal - 100 * COVERAGE_TOLERANCE,
            nominal + 100 * COVERAGE_TOLERANCE,
            color="0.88",
            zorder=0,
        ),
        ax.axhline(nominal, color="grey", lw=1),
    ]
    ax.set_ylim(low, high)
    if column not in table:
        return artists
    margin = 0.02 * (high - low)
    for i, method in enumerate(methods):
        rows, centre = method_rows(table, method, variable, "amplitude", column)
        if rows.empty:
            continue
        p = rows[column].to_numpy()
        error = 100 * np.sqrt(p * (1 - p) / rows["n"].to_numpy())
        shown = np.clip(100 * p, low + margin, high - margin)
        style = line_style(i, method)
        artists.append(
            ax.errorbar(centre, shown, yerr=error, ms=6, capsize=3, label=method, **style)
        )
        for outside, marker in ((100 * p < low, "v"), (100 * p > high, "^")):
            if outside.any():
                artists += ax.plot(
                    centre[outside],
                    shown[outside],
                    ls="",
                    marker=marker,
                    ms=11,
                    color=style["color"],
                )
    return artists


@styled
def coverage_figure(table: pd.DataFrame, methods: Sequence[str], title: str = "") -> Figure:
    """The coverage (percent of test pulses whose truth lies inside) of the 68% (left) and
    95% (right) intervals of A (top) and t0 (bottom) against A/sigma, every method that
    gives intervals or an uncertainty (a Gaussian's: +-1 and 2 sigma)."""
    fig, axes = new_figure(2, 2, figsize=(15, 11), sharex=True, layout="tight")
    for row, variable in enumerate(VARIABLES):
        for col, (content, suffix) in enumerate(COVERAGE):
            ax = axes[row, col]
            draw_coverage(ax, table, variable, content, suffix, methods)
            symbol = "$A$" if variable == "amplitude" else "$t_0$"
            ax.set(xscale="log", ylabel=f"coverage of the {suffix}% intervals of {symbol} (%)")
            if row == 1:
                ax.set_xlabel(r"$A/\sigma$")
    axes[0, 0].legend(loc="upper left", fontsize=11, ncol=3)
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


@styled
def threshold_figure(scan: Mapping[str, Sequence[float]], chosen: float, title: str = "") -> Figure:
    """The pile-up fit's threshold on validation: false detections (clean pulses given a
    pile-up pulse) against missed pile-up, one point per p-value (left); the total RMS over
    the bound, and that of A and t0, against the p-value (right); the chosen one circled."""
    frame = pd.DataFrame(dict(scan))
    fig, (left, right) = new_figure(1, 2, figsize=(15, 6.5), layout="tight")
    left.plot(frame["false_detections"], frame["missed_pileup"], "o-", color=colour(0), lw=1.8)
    for _, row in frame.iterrows():
        left.annotate(
            f"{row['p_value']:.0e}",
            (row["false_detections"], row["missed_pileup"]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=9,
        )
    best = frame.loc[(frame["p_value"] - chosen).abs().idxmin()]
    for ax, x, y in (
        (left, best["false_detections"], best["missed_pileup"]),
        (right, best["p_value"], best["total"]),
    ):
        ax.plot([x], [y], "o", ms=16, mfc="none", mec="k", mew=2, label=f"chosen: p = {chosen:.0e}")
    left.set(
        xscale="symlog",
        xlabel="false detections (fraction of clean pulses)",
        ylabel="missed pile-up (fraction of piled-up pulses)",
    )
    left.set_xscale("symlog", linthresh=1e-4)
    right.plot(
        frame["p_value"], frame["total"], "o-", color="k", lw=2, label="total (mean of squares)"
    )
    right.plot(
        frame["p_value"],
        frame["amplitude_rms_ratio"] ** 2,
        "s--",
        color=colour(1),
        label=r"(RMS of $A$ / bound)$^2$",
    )
    right.plot(
        frame["p_value"],
        frame["t0_rms_ratio"] ** 2,
        "^--",
        color=colour(2),
        label=r"(RMS of $t_0$ / bound)$^2$",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="p-value of the pile-up test",
        ylabel="mean squared error / bound$^2$ (validation)",
    )
    left.legend(loc="upper right", fontsize=11)
    right.legend(loc="best", fontsize=11)
    if title:
        fig.suptitle(title)
    return fig
