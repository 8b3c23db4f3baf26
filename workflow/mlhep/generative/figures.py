"""Figures of the generative stage: real against generated per feature with a ratio
panel, the dimuon mass of every generator, the training history (losses and W1 per
checkpoint), and the ROC curves of the classifier two-sample test. Each ``draw_*`` takes
its axes and returns the artists (hist's convention); the ``*_figure`` functions lay them
out and return the figure, for :func:`mlhep.plotting.save_figure`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlhep.data.dimuon.features import FEATURE_LABELS
from mlhep.data.dimuon.representation import MASS_COLUMN
from mlhep.plotting import CURVE_COLOURS, blank_figure, new_figure, plot_range, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

REAL = "black"
#: The loss curves of a training history, by key, and their legend labels.
LOSSES = {
    "critic_loss": "critic",
    "generator_loss": "generator",
    "train_nll": "training (mean since the last checkpoint)",
    "validation_nll": "validation",
}


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    if np.allclose(values, np.round(values)) and values.max() - values.min() < 30:
        return np.arange(values.min(), values.max() + 2) - 0.5
    return np.linspace(*plot_range(values), bins + 1)


@styled
def draw_ratio(
    ax: Axes,
    ax_ratio: Axes,
    real: np.ndarray,
    generated: Mapping[str, np.ndarray],
    edges: np.ndarray,
    xlabel: str,
) -> list[Any]:
    """Normalised histograms of the real sample (points with Poisson errors) and of each
    generated one (lines) on ``ax``; generated over real, with the real errors as a band,
    on ``ax_ratio``."""
    import mplhep

    width = np.diff(edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    counts = np.histogram(np.clip(real, edges[0], edges[-1]), edges)[0].astype(float)
    norm = counts.sum() * width
    density, error = counts / norm, np.sqrt(counts) / norm
    artists = [ax.errorbar(centres, density, yerr=error, fmt="o", ms=3, color=REAL, label="real")]
    rel = np.divide(error, density, out=np.zeros_like(error), where=density > 0)
    artists.append(
        ax_ratio.fill_between(
            centres, 1 - rel, 1 + rel, step="mid", color="0.8", label="real stat."
        )
    )
    for i, (name, values) in enumerate(generated.items()):
        g = np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0].astype(float)
        g_density = g / (g.sum() * width)
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        artists.append(mplhep.histplot(g_density, edges, ax=ax, color=colour, lw=1.8, label=name))
        ratio = np.divide(g_density, density, out=np.full_like(density, np.nan), where=density > 0)
        artists += ax_ratio.step(centres, ratio, where="mid", color=colour, lw=1.5)
    artists.append(ax_ratio.axhline(1.0, color=REAL, lw=0.8))
    ax_ratio.set_ylim(0.5, 1.5)
    ax_ratio.set_xlabel(xlabel, fontsize=13)
    ax_ratio.set_ylabel("gen / real", fontsize=11)
    ax.set_ylabel("Density", fontsize=12)
    ax.tick_params(labelbottom=False, labelsize=11)
    ax_ratio.tick_params(labelsize=11)
    return artists


@styled
def features_figure(
    real: pd.DataFrame,
    generated: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    bins: int = 40,
) -> Figure:
    """Every column, real against each generated sample, with ratio panels."""
    ncols = 4
    nrows = -(-len(columns) // ncols)
    fig = blank_figure(figsize=(5.5 * ncols, 5.6 * nrows))
    outer = fig.add_gridspec(nrows, ncols, hspace=0.32, wspace=0.3)
    for k, column in enumerate(columns):
        cell = outer[divmod(k, ncols)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.06)
        ax = fig.add_subplot(cell[0])
        ax_ratio = fig.add_subplot(cell[1], sharex=ax)
        values = real[column].to_numpy(float)
        draw_ratio(
            ax,
            ax_ratio,
            values,
            {n: g[column].to_numpy(float) for n, g in generated.items()},
            _edges(values, bins),
            FEATURE_LABELS.get(column, column),
        )
        if k == 0:
            ax.legend(fontsize=10)
    return fig


@styled
def mass_figure(real: pd.DataFrame, generated: Mapping[str, pd.DataFrame]) -> Figure:
    """The pair mass of signal (left) and background (right), real against every generator."""
    fig = blank_figure(figsize=(16, 7.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1], hspace=0.08)
    edges = np.linspace(100.0, 150.0, 51)
    for col, (label, title) in enumerate(((1, "signal"), (0, "background"))):
        ax = fig.add_subplot(grid[0, col])
        ax_ratio = fig.add_subplot(grid[1, col], sharex=ax)
        pick = {n: g.loc[g["label"] == label, MASS_COLUMN].to_numpy() for n, g in generated.items()}
        draw_ratio(
            ax,
            ax_ratio,
            real.loc[real["label"] == label, MASS_COLUMN].to_numpy(),
            pick,
            edges,
            FEATURE_LABELS[MASS_COLUMN],
        )
        ax.set_title(f"{title}: pair mass", fontsize=14)
        ax.legend(fontsize=10)
    return fig


@styled
def draw_history(ax_loss: Axes, ax_w1: Axes, history: Mapping[str, Sequence[float]]) -> list[Any]:
    """The losses on ``ax_loss`` (a GAN's critic and generator losses; a flow's training
    and validation negative log-likelihoods) and the monitored W1 distances on ``ax_w1``
    per checkpoint, the kept checkpoint (``best_step``) marked on both."""
    step = np.asarray(history["step"])
    artists: list[Any] = []
    for i, (key, label) in enumerate((k, v) for k, v in LOSSES.items() if k in history):
        artists += ax_loss.plot(step, history[key], label=label, color=CURVE_COLOURS[i])
    flow = "validation_nll" in history
    ax_loss.set_xlabel("training step" if flow else "generator step")
    ax_loss.set_ylabel(
        "negative log-likelihood per event [nats]"
        if flow
        else "mean loss since the last checkpoint"
    )
    ax_loss.legend()
    for i, key in enumerate(k for k in history if k.startswith("w1_")):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        artists += ax_w1.plot(step, history[key], label=key, color=colour)
    best = history.get("best_step")
    if best:
        for ax in (ax_loss, ax_w1):
            artists.append(ax.axvline(best, color="0.5", ls=":", label="kept"))
    ax_w1.set_yscale("log")
    ax_w1.set_xlabel("training step" if flow else "generator step")
    ax_w1.set_ylabel("W1 to validation events")
    ax_w1.legend(fontsize=10)
    return artists


@styled
def history_figure(history: Mapping[str, Sequence[float]], title: str) -> Figure:
    """:func:`draw_history` on two panels, titled."""
    fig, (ax_loss, ax_w1) = new_figure(1, 2, figsize=(15, 5.5))
    draw_history(ax_loss, ax_w1, history)
    fig.suptitle(title, fontsize=15)
    return fig


@styled
def draw_two_sample(ax: Axes, rocs: Mapping[str, Mapping[str, Any]], title: str) -> list[Line2D]:
    """ROC curves of the two-sample BDT (generated against real), one per sample; the
    diagonal is perfect fidelity."""
    lines = []
    for i, (name, roc) in enumerate(rocs.items()):
        lines += ax.plot(
            roc["fpr"],
            roc["tpr"],
            color=CURVE_COLOURS[i % len(CURVE_COLOURS)],
            label=f"{name} (AUC {roc['auc']:.3f})",
        )
    lines += ax.plot([0, 1], [0, 1], color="0.5", ls="--", label="indistinguishable")
    ax.set_xlabel("real events called generated")
    ax.set_ylabel("generated events called generated")
    ax.set_title(title, fontsize=13)
    ax.legend(fontsize=10, loc="lower right")
    return lines


def two_sample_figure(rocs: Mapping[str, Mapping[str, Any]], title: str) -> Figure:
    """:func:`draw_two_sample` on a 7.5 x 7 inch figure."""
    fig, ax = new_figure(figsize=(7.5, 7))
    draw_two_sample(ax, rocs, title)
    return fig
