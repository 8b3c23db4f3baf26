"""Figures of the generalization studies, one per study, in the house style
(:data:`mlhep.plotting.STYLE`). Each panel function draws on the ``ax`` it is given;
:func:`draw` picks the study's figure from :data:`FIGURES`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from mlhep.plotting import CURVE_COLOURS, save, styled
from mlhep.studies.generalization import STUDIES, format_value

Points = Sequence[Mapping[str, Any]]
SPLIT_STYLE = {
    "train": ("#3f90da", "--", "o"),
    "validation": ("#ffa90e", "-", "s"),
    "test": ("#bd1f01", ":", "^"),
}


def _values(points: Points, key: str) -> np.ndarray:
    return np.array(
        [p["result"][key] if key in p["result"] else p["point"][key] for p in points], dtype=float
    )


def _chosen(summary: Mapping[str, Any], axis: str) -> list[Any]:
    return [c[axis] for c in summary["chosen"]]


def error_panel(
    ax: plt.Axes,
    x: np.ndarray,
    points: Points,
    metric: str,
    splits: Sequence[str] = ("train", "validation", "test"),
) -> list[Any]:
    """Train, validation and test ``metric`` against ``x``."""
    artists = []
    for split in splits:
        colour, style, marker = SPLIT_STYLE[split]
        artists += ax.plot(
            x, _values(points, f"{split}_{metric}"), style, marker=marker, color=colour, label=split
        )
    return artists


def mark_choice(ax: plt.Axes, x: float, label: str = "chosen on validation") -> Any:
    """A vertical line at the chosen point."""
    return ax.axvline(x, color="0.4", lw=1, ls="-.", label=label)


@styled
def polynomial_degree(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """MSE against degree with the noise floor; fits at an under-, a well- and an over-fitted
    degree."""
    fig = plt.figure(figsize=(18, 11))
    grid = fig.add_gridspec(2, 3, height_ratios=(1.1, 1))
    ax = fig.add_subplot(grid[0, :])
    degree = _values(points, "degree")
    error_panel(ax, degree, points, "mse")
    if all(p["result"].get("kfold_mse") is not None for p in points):
        ax.plot(
            degree,
            _values(points, "kfold_mse"),
            "-",
            color="#832db6",
            marker="d",
            label="k-fold CV (train + validation)",
        )
    noise = points[0]["result"]["noise_variance"]
    ax.axhline(noise, color="k", lw=1, label=r"noise variance $\sigma^2$")
    best = _chosen(summary, "degree")[0]
    mark_choice(ax, best)
    ax.set(yscale="log", xlabel="polynomial degree", ylabel="mean squared error")
    ax.set_ylim(noise / 3, None)
    ax.legend(ncol=3, fontsize=12)
    by_degree = {int(p["point"]["degree"]): p for p in points}
    low = min(by_degree)
    for k, d in enumerate((low, int(best), max(by_degree))):
        name = "chosen" if d == best else "under-fitted" if d < best else "over-fitted"
        a = fig.add_subplot(grid[1, k])
        fit_panel(a, by_degree[d])
        a.set_title(f"degree {d} ({name})", fontsize=14)
    return fig


def fit_panel(ax: plt.Axes, point: Mapping[str, Any]) -> list[Any]:
    """A fit with the training samples and the noiseless pulse."""
    r = point["result"]
    curve = r["curve"]
    artists = ax.plot(curve["t"], curve["truth"], "k-", lw=1, label="pulse")
    artists += ax.plot(curve["t"], curve["fit"], "-", color="#bd1f01", label="fit")
    if "samples" in r:
        artists += ax.plot(
            r["samples"]["train"]["t"],
            r["samples"]["train"]["y"],
            "o",
            color="#3f90da",
            ms=4,
            label="train",
        )
    truth = np.asarray(curve["truth"])
    span = truth.max() - truth.min()
    ax.set_ylim(truth.min() - 0.4 * span, truth.max() + 0.4 * span)
    ax.set_xlabel("t [ns]", fontsize=13)
    ax.legend(fontsize=10)
    return artists


def _penalty_figure(
    points: Points, summary: Mapping[str, Any], symbol: str, sparse: bool = False
) -> plt.Figure:
    fig, (ax, norm) = plt.subplots(1, 2, figsize=(16, 6.5))
    penalty = _values(points, "penalty")
    positive = penalty > 0
    x = np.where(positive, penalty, penalty[positive].min() / 10 if positive.any() else 1e-12)
    error_panel(ax, x, points, "mse")
    ax.axhline(points[0]["result"]["noise_variance"], color="k", lw=1, label=r"$\sigma^2$")
    mark_choice(ax, x[int(np.argmin(np.abs(penalty - float(_chosen(summary, "penalty")[0]))))])
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=symbol + (" (0 drawn at the left edge)" if not positive.all() else ""),
        ylabel="mean squared error",
    )
    ax.legend(fontsize=12)
    norm.plot(x, _values(points, "weight_norm"), "o-", color="#832db6", label=r"$|w|_2$")
    norm.set(
        xscale="log", yscale="log", xlabel=symbol, ylabel="norm of the weights (bias excluded)"
    )
    if sparse:  # the lasso sets weights to zero; ridge only shrinks them
        twin = norm.twinx()
        twin.plot(x, _values(points, "nonzero_weights"), "s--", color="#94a4a2")
        twin.set_ylabel("non-zero weights (dashed)", color="#717581")
    return fig


@styled
def polynomial_ridge(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """MSE and the weights' norm against the ridge penalty."""
    return _penalty_figure(points, summary, r"ridge penalty $\lambda$")


@styled
def polynomial_lasso(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """MSE, the weights' norm and their number against the lasso penalty."""
    return _penalty_figure(points, summary, r"lasso penalty $\alpha$", sparse=True)


@styled
def double_descent(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """Empirical risk against p/n on the theory's axes: min-norm and optimal ridge."""
    from mlhep.studies.generalization.double_descent import minimum_norm_risk, ridge_risk

    fig, ax = plt.subplots(figsize=(10, 7))
    ratio = _values(points, "ratio")
    r0 = points[0]["result"]
    n = r0["n"]
    signal, noise = r0["signal"], r0["noise"]
    g = np.concatenate([np.linspace(0.02, 0.98, 200), np.linspace(1.02, ratio.max() * 1.2, 300)])
    ax.plot(
        g, minimum_norm_risk(g, signal, noise), "k-", lw=1.5, label="theory, min-norm (n = inf)"
    )
    below = g < 1 - 2.0 / n
    ax.plot(
        g[below],
        noise * g[below] * n / (n - g[below] * n - 1),
        "k:",
        lw=1.5,
        label="theory, finite n (p < n)",
    )
    ax.plot(
        g,
        [ridge_risk(x, noise * x / signal, signal, noise) for x in g],
        "-",
        color="#3f90da",
        lw=1.5,
        label=r"theory, optimal ridge $\lambda^* = \sigma^2\gamma/r^2$",
    )
    ax.errorbar(
        ratio,
        _values(points, "minimum_norm_risk"),
        _values(points, "minimum_norm_risk_error"),
        fmt="o",
        color="#bd1f01",
        label=f"min-norm least squares (n = {n})",
    )
    ax.errorbar(
        ratio,
        _values(points, "ridge_risk"),
        _values(points, "ridge_risk_error"),
        fmt="s",
        color="#3f90da",
        label="optimal ridge",
    )
    ax.axvline(1.0, color="0.5", lw=1, ls="--")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="p / n",
        ylabel=r"excess test risk $|\hat\beta-\beta|^2$",
        ylim=(0.05, 200),
    )
    ax.legend(fontsize=11)
    return fig


@styled
def random_features(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """Test MSE and AUC of random-feature least squares against p/n."""
    fig, (ax, auc) = plt.subplots(1, 2, figsize=(16, 6.5))
    ratio = _values(points, "ratio")
    for split in ("train", "test"):
        colour, style, marker = SPLIT_STYLE[split]
        mse = _values(points, f"{split}_mse")
        floor = 0.3 * np.nanmin(_values(points, "test_mse"))
        ax.errorbar(
            ratio,
            np.maximum(mse, floor),
            _values(points, f"{split}_mse_error"),
            fmt=style,
            marker=marker,
            color=colour,
            label=f"{split}, min-norm",
        )
    if "ridge_test_mse" in points[0]["result"]:
        ax.plot(
            ratio,
            _values(points, "ridge_test_mse"),
            "-",
            marker="s",
            color="#3f90da",
            label="test, ridge chosen on validation",
        )
        auc.plot(
            ratio,
            _values(points, "ridge_test_auc"),
            "-",
            marker="s",
            color="#3f90da",
            label="ridge chosen on validation",
        )
    auc.errorbar(
        ratio,
        _values(points, "test_auc"),
        _values(points, "test_auc_error"),
        fmt=":",
        marker="^",
        color="#bd1f01",
        label="min-norm",
    )
    for a in (ax, auc):
        a.axvline(1.0, color="0.5", lw=1, ls="--")
        a.set_xscale("log")
        a.set_xlabel(f"p / n (n = {points[0]['result']['n']})")
    # past p = n the fit interpolates: its training MSE is rounding error, drawn at the floor
    floor = 0.3 * np.nanmin(_values(points, "test_mse"))
    ax.set(yscale="log", ylabel="MSE of the label (train 0 past p = n)", ylim=(floor, None))
    auc.set_ylabel("test ROC AUC")
    ax.legend(fontsize=12)
    auc.legend(fontsize=12)
    return fig


def capacity_lines(
    ax: plt.Axes, points: Points, line: str, x: str, label: Callable[[Any], str]
) -> list[tuple[str, Points]]:
    """Train (dashed) and validation (solid) AUC against ``x``, one colour per value of the
    grid axis ``line``; returns each line's colour and points, sorted along ``x``."""
    lines = []
    for k, value in enumerate(sorted({p["point"][line] for p in points})):
        sub = sorted(
            (p for p in points if p["point"][line] == value),
            key=lambda p: p["result"].get(x, p["point"].get(x)),
        )
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        ax.plot(_values(sub, x), _values(sub, "train_auc"), "--", color=colour, marker="o")
        ax.plot(
            _values(sub, x),
            _values(sub, "validation_auc"),
            "-",
            color=colour,
            marker="s",
            label=label(value),
        )
        lines.append((colour, sub))
    return lines


@styled
def bdt_capacity(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """AUC against the number of trees for each depth (train dashed, validation solid) and
    the KS overtraining statistic."""
    fig, (ax, ks) = plt.subplots(1, 2, figsize=(16, 6.5))
    for colour, sub in capacity_lines(ax, points, "max_depth", "n_estimators", "depth {}".format):
        ks.plot(
            _values(sub, "n_estimators"),
            np.maximum(_values(sub, "ks_signal"), _values(sub, "ks_background")),
            "-",
            color=colour,
            marker="o",
        )
    _limit(ax, summary)
    ax.set(xscale="log", xlabel="trees", ylabel="ROC AUC (train dashed, validation solid)")
    ks.set(xscale="log", xlabel="trees", ylabel="KS statistic D, train vs test (larger class)")
    ax.legend(fontsize=12)
    return fig


def _limit(ax: plt.Axes, summary: Mapping[str, Any]) -> None:
    if summary.get("limit_auc") is not None:
        ax.axhline(summary["limit_auc"], color="k", lw=1.5, label="Bayes limit (test)")


@styled
def ann_capacity(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """AUC against the number of parameters, one line per depth; the loss gap."""
    fig, (ax, gap) = plt.subplots(1, 2, figsize=(16, 6.5))
    for colour, sub in capacity_lines(
        ax, points, "layers", "parameters", "{} hidden layer(s)".format
    ):
        gap.plot(
            _values(sub, "parameters"),
            _values(sub, "loss_gap"),
            "-",
            color=colour,
            marker="o",
            label=f"{sub[0]['point']['layers']} hidden layer(s)",
        )
    _limit(ax, summary)
    ax.set(
        xscale="log",
        xlabel="trainable parameters",
        ylabel="ROC AUC (train dashed, validation solid)",
    )
    gap.set(xscale="log", xlabel="trainable parameters", ylabel="test - train log-loss")
    ax.legend(fontsize=12)
    gap.legend(fontsize=12)
    return fig


def _sweep_figure(points: Points, summary: Mapping[str, Any], axis: str, label: str) -> plt.Figure:
    fig, (ax, curves) = plt.subplots(1, 2, figsize=(16, 6.5))
    values = [p["point"][axis] for p in points]
    x = np.arange(len(values))
    error_panel(ax, x, points, "loss")
    ax.set_xticks(x, [format_value(v) for v in values])
    chosen = [format_value(v) for v in values].index(format_value(_chosen(summary, axis)[0]))
    mark_choice(ax, chosen)
    if summary.get("limit_loss") is not None:
        ax.axhline(summary["limit_loss"], color="k", lw=1.5, label="Bayes limit (test)")
    ax.set(xlabel=label, ylabel="log-loss (last epoch)")
    ax.legend(fontsize=12)
    for k, p in enumerate(points):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        c = p["result"]["curves"]
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        curves.plot(epochs, c["train_loss"], "--", color=colour)
        curves.plot(
            epochs,
            c["validation_loss"],
            "-",
            color=colour,
            label=f"{label} {format_value(p['point'][axis])}",
        )
    curves.set(xlabel="epoch", ylabel="log-loss (train dashed, validation solid)")
    curves.legend(fontsize=11)
    return fig


@styled
def ann_weight_decay(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """Final losses against the weight decay, and the per-epoch curves."""
    return _sweep_figure(points, summary, "weight_decay", "weight decay")


@styled
def ann_dropout(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """Final losses against the dropout probability, and the per-epoch curves."""
    return _sweep_figure(points, summary, "dropout", "dropout")


@styled
def ann_overfit(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """Train against validation loss per epoch: the divergence of an over-sized network."""
    fig, ax = plt.subplots(figsize=(10, 7))
    for k, p in enumerate(points):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        c = p["result"]["curves"]
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        n = p["point"]["n_train"]
        ax.plot(epochs, c["train_loss"], "--", color=colour, label=f"train ({n} events)")
        ax.plot(epochs, c["validation_loss"], "-", color=colour, label=f"validation ({n} events)")
        best = int(np.argmin(c["validation_loss"])) + 1
        ax.axvline(
            best, color=colour, lw=1, ls="-.", label=f"minimum validation loss, epoch {best}"
        )
    if summary.get("limit_loss") is not None:
        ax.axhline(summary["limit_loss"], color="k", lw=1.5, label="Bayes limit (test)")
    ax.set(xlabel="epoch", ylabel="log-loss", yscale="log")
    ax.legend(fontsize=11)
    return fig


@styled
def learning_curve(points: Points, summary: Mapping[str, Any]) -> plt.Figure:
    """Train and test AUC against the training-set size per model, against the limit; the
    MLP's validation AUC against optimiser steps for each size."""
    fig, (ax, steps) = plt.subplots(1, 2, figsize=(17, 6.5))
    models = list(dict.fromkeys(p["point"]["model"] for p in points))
    for k, model in enumerate(models):
        sub = sorted(
            (p for p in points if p["point"]["model"] == model), key=lambda p: p["point"]["n_train"]
        )
        n = _values(sub, "n_train")
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        ax.plot(n, _values(sub, "train_auc"), "--", color=colour, marker="o")
        ax.plot(n, _values(sub, "test_auc"), "-", color=colour, marker="s", label=model)
    _limit(ax, summary)
    ax.set(xscale="log", xlabel="training events", ylabel="ROC AUC (train dashed, test solid)")
    ax.legend(fontsize=12)
    mlp = sorted(
        (p for p in points if "curves" in p["result"]), key=lambda p: p["point"]["n_train"]
    )
    for k, p in enumerate(mlp):
        r = p["result"]
        x = r["steps_per_epoch"] * np.arange(1, len(r["curves"]["validation_auc"]) + 1)
        steps.plot(
            x,
            r["curves"]["validation_auc"],
            "-",
            color=CURVE_COLOURS[k % len(CURVE_COLOURS)],
            label=f"{p['point']['n_train']} events",
        )
    _limit(steps, summary)
    steps.set(xscale="log", xlabel="optimiser steps", ylabel="MLP validation ROC AUC")
    steps.legend(fontsize=11)
    return fig


#: The figure of each study.
FIGURES: dict[str, Callable[[Points, Mapping[str, Any]], plt.Figure]] = {
    "polynomial_degree": polynomial_degree,
    "polynomial_ridge": polynomial_ridge,
    "polynomial_lasso": polynomial_lasso,
    "double_descent": double_descent,
    "random_features": random_features,
    "bdt_capacity": bdt_capacity,
    "ann_capacity": ann_capacity,
    "ann_weight_decay": ann_weight_decay,
    "ann_dropout": ann_dropout,
    "ann_overfit": ann_overfit,
    "learning_curve": learning_curve,
}


def draw(
    study: str, points: Points, summary: Mapping[str, Any], path: str | os.PathLike[str]
) -> None:
    """Draw a study's figure, titled, to ``path`` (the points of a one-axis study in the
    order of their values, whatever the order of the grid in the config)."""
    axes = STUDIES[study].axes
    if len(axes) == 1:
        points = sorted(points, key=lambda p: p["point"][axes[0]])
    fig = FIGURES[study](points, summary)
    fig.suptitle(STUDIES[study].title, fontsize=18)
    save(fig, path)
