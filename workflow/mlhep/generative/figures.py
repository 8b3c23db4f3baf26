"""Figures of the generative stage: real against generated per feature with a ratio
panel, the dimuon mass of every generator, the training history (losses and W1 per
checkpoint), and the ROC curves of the classifier two-sample test. Each ``draw_*`` takes
its axes and returns the artists; the ``*_figure`` functions lay them out and save."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd

from mlhep.data.dimuon.features import FEATURE_LABELS
from mlhep.data.dimuon.representation import MASS_COLUMN
from mlhep.plotting import CURVE_COLOURS, _plot_range, save, styled

REAL = "black"


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    if np.allclose(values, np.round(values)) and values.max() - values.min() < 30:
        return np.arange(values.min(), values.max() + 2) - 0.5
    return np.linspace(*_plot_range(values), bins + 1)


def draw_ratio(
    ax: plt.Axes,
    ax_ratio: plt.Axes,
    real: np.ndarray,
    generated: Mapping[str, np.ndarray],
    edges: np.ndarray,
    xlabel: str,
) -> list[Any]:
    """Normalised histograms of the real sample (points with Poisson errors) and of each
    generated one (lines) on ``ax``; generated over real, with the real errors as a band,
    on ``ax_ratio``."""
    width = np.diff(edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    counts = np.histogram(np.clip(real, edges[0], edges[-1]), edges)[0].astype(float)
    norm = counts.sum() * width
    density, error = counts / norm, np.sqrt(counts) / norm
    artists = [ax.errorbar(centres, density, yerr=error, fmt="o", ms=3, color=REAL, label="real")]
    rel = np.divide(error, density, out=np.zeros_like(error), where=density > 0)
    ax_ratio.fill_between(centres, 1 - rel, 1 + rel, step="mid", color="0.8", label="real stat.")
    for i, (name, values) in enumerate(generated.items()):
        g = np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0].astype(float)
        g_density = g / (g.sum() * width)
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        artists.append(mplhep.histplot(g_density, edges, ax=ax, color=colour, lw=1.8, label=name))
        ratio = np.divide(g_density, density, out=np.full_like(density, np.nan), where=density > 0)
        artists += ax_ratio.step(centres, ratio, where="mid", color=colour, lw=1.5)
    ax_ratio.axhline(1.0, color=REAL, lw=0.8)
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
    path: str | os.PathLike[str],
    bins: int = 40,
) -> None:
    """Every column, real against each generated sample, with ratio panels."""
    ncols = 4
    nrows = -(-len(columns) // ncols)
    fig = plt.figure(figsize=(5.5 * ncols, 5.6 * nrows))
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
    save(fig, path)


@styled
def mass_figure(
    real: pd.DataFrame, generated: Mapping[str, pd.DataFrame], path: str | os.PathLike[str]
) -> None:
    """The pair mass of signal (left) and background (right), real against every generator."""
    fig = plt.figure(figsize=(16, 7.5))
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
        ax.set_title(f"{title}: pair mass (no generator outputs it)", fontsize=14)
        ax.legend(fontsize=10)
    save(fig, path)


@styled
def history_figure(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str
) -> None:
    """Critic and generator losses (left) and the monitored W1 distances (right) per
    checkpoint, the kept checkpoint marked."""
    fig, (ax_loss, ax_w1) = plt.subplots(1, 2, figsize=(15, 5.5))
    step = np.asarray(history["step"])
    ax_loss.plot(step, history["critic_loss"], label="critic", color=CURVE_COLOURS[0])
    ax_loss.plot(step, history["generator_loss"], label="generator", color=CURVE_COLOURS[1])
    ax_loss.set_xlabel("generator step")
    ax_loss.set_ylabel("mean loss since the last checkpoint")
    ax_loss.legend()
    for i, key in enumerate(k for k in history if k.startswith("w1_")):
        ax_w1.plot(step, history[key], label=key, color=CURVE_COLOURS[i % len(CURVE_COLOURS)])
    best = history.get("best_step")
    if best:
        for ax in (ax_loss, ax_w1):
            ax.axvline(best, color="0.5", ls=":", label="kept")
    ax_w1.set_yscale("log")
    ax_w1.set_xlabel("generator step")
    ax_w1.set_ylabel("W1 to validation events")
    ax_w1.legend(fontsize=10)
    fig.suptitle(title, fontsize=15)
    save(fig, path)


@styled
def two_sample_figure(
    rocs: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str], title: str
) -> None:
    """ROC curves of the two-sample BDT (generated against real), one per sample; the
    diagonal is perfect fidelity."""
    fig, ax = plt.subplots(figsize=(7.5, 7))
    for i, (name, roc) in enumerate(rocs.items()):
        ax.plot(
            roc["fpr"],
            roc["tpr"],
            color=CURVE_COLOURS[i % len(CURVE_COLOURS)],
            label=f"{name} (AUC {roc['auc']:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", label="indistinguishable")
    ax.set_xlabel("real events called generated")
    ax.set_ylabel("generated events called generated")
    ax.set_title(title, fontsize=13)
    ax.legend(fontsize=10, loc="lower right")
    save(fig, path)
