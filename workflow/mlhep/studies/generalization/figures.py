"""Figures of the generalization studies, one per study, in the house style
(:func:`mlhep.plotting.style`), drawn as hist draws: each panel function draws on the
``ax`` it is given and returns its artists, each study's ``draw_*`` fills the figure it is
given, and :func:`figure` makes a study's figure (its function and size named by the
study's registry entry, titled) for :func:`mlhep.plotting.save_figure`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlhep.plotting import CURVE_COLOURS, blank_figure, styled
from mlhep.studies.generalization import STUDIES, format_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


@styled
def error_panel(
    ax: Axes,
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


@styled
def mark_choice(ax: Axes, x: float, label: str = "chosen on validation") -> Any:
    """A vertical line at the chosen point."""
    return ax.axvline(x, color="0.4", lw=1, ls="-.", label=label)


@styled
def draw_polynomial_degree(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """MSE against degree with the noise floor (top); fits at an under-, a well- and an
    over-fitted degree (below)."""
    grid = fig.add_gridspec(2, 3, height_ratios=(1.1, 1))
    ax = fig.add_subplot(grid[0, :])
    degree = _values(points, "degree")
    artists = error_panel(ax, degree, points, "mse")
    if all(p["result"].get("kfold_mse") is not None for p in points):
        artists += ax.plot(
            degree,
            _values(points, "kfold_mse"),
            "-",
            color="#832db6",
            marker="d",
            label="k-fold CV (train + validation)",
        )
    noise = points[0]["result"]["noise_variance"]
    artists.append(ax.axhline(noise, color="k", lw=1, label=r"noise variance $\sigma^2$"))
    best = _chosen(summary, "degree")[0]
    artists.append(mark_choice(ax, best))
    ax.set(yscale="log", xlabel="polynomial degree", ylabel="mean squared error")
    ax.set_ylim(noise / 3, None)
    ax.legend(ncol=3, fontsize=12)
    by_degree = {int(p["point"]["degree"]): p for p in points}
    low = min(by_degree)
    for k, d in enumerate((low, int(best), max(by_degree))):
        name = "chosen" if d == best else "under-fitted" if d < best else "over-fitted"
        a = fig.add_subplot(grid[1, k])
        artists += fit_panel(a, by_degree[d])
        a.set_title(f"degree {d} ({name})", fontsize=14)
    return artists


@styled
def fit_panel(ax: Axes, point: Mapping[str, Any]) -> list[Any]:
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


@styled
def _draw_penalty(
    fig: Figure, points: Points, summary: Mapping[str, Any], symbol: str, sparse: bool = False
) -> list[Any]:
    """MSE (left) and the weights' norm (right; with ``sparse``, their number) against a
    penalty, a zero penalty drawn at the left edge of the log axis."""
    ax, norm = fig.subplots(1, 2)
    penalty = _values(points, "penalty")
    positive = penalty > 0
    x = np.where(positive, penalty, penalty[positive].min() / 10 if positive.any() else 1e-12)
    artists = error_panel(ax, x, points, "mse")
    noise = points[0]["result"]["noise_variance"]
    artists.append(ax.axhline(noise, color="k", lw=1, label=r"$\sigma^2$"))
    chosen = float(_chosen(summary, "penalty")[0])
    artists.append(mark_choice(ax, x[int(np.argmin(np.abs(penalty - chosen)))]))
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=symbol + (" (0 drawn at the left edge)" if not positive.all() else ""),
        ylabel="mean squared error",
    )
    ax.legend(fontsize=12)
    artists += norm.plot(x, _values(points, "weight_norm"), "o-", color="#832db6", label=r"$|w|_2$")
    norm.set(
        xscale="log", yscale="log", xlabel=symbol, ylabel="norm of the weights (bias excluded)"
    )
    if sparse:  # the lasso sets weights to zero; ridge only shrinks them
        twin = norm.twinx()
        artists += twin.plot(x, _values(points, "nonzero_weights"), "s--", color="#94a4a2")
        twin.set_ylabel("non-zero weights (dashed)", color="#717581")
    return artists


def draw_polynomial_ridge(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """MSE and the weights' norm against the ridge penalty."""
    return _draw_penalty(fig, points, summary, r"ridge penalty $\lambda$")


def draw_polynomial_lasso(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """MSE, the weights' norm and their number against the lasso penalty."""
    return _draw_penalty(fig, points, summary, r"lasso penalty $\alpha$", sparse=True)


@styled
def draw_double_descent(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """Empirical risk against p/n on the theory's axes: min-norm and optimal ridge."""
    from mlhep.studies.generalization.double_descent import minimum_norm_risk, ridge_risk

    ax = fig.subplots()
    ratio = _values(points, "ratio")
    r0 = points[0]["result"]
    n = r0["n"]
    signal, noise = r0["signal"], r0["noise"]
    g = np.concatenate([np.linspace(0.02, 0.98, 200), np.linspace(1.02, ratio.max() * 1.2, 300)])
    artists = ax.plot(
        g, minimum_norm_risk(g, signal, noise), "k-", lw=1.5, label="theory, min-norm (n = inf)"
    )
    below = g < 1 - 2.0 / n
    artists += ax.plot(
        g[below],
        noise * g[below] * n / (n - g[below] * n - 1),
        "k:",
        lw=1.5,
        label="theory, finite n (p < n)",
    )
    artists += ax.plot(
        g,
        [ridge_risk(x, noise * x / signal, signal, noise) for x in g],
        "-",
        color="#3f90da",
        lw=1.5,
        label=r"theory, optimal ridge $\lambda^* = \sigma^2\gamma/r^2$",
    )
    artists.append(
        ax.errorbar(
            ratio,
            _values(points, "minimum_norm_risk"),
            _values(points, "minimum_norm_risk_error"),
            fmt="o",
            color="#bd1f01",
            label=f"min-norm least squares (n = {n})",
        )
    )
    artists.append(
        ax.errorbar(
            ratio,
            _values(points, "ridge_risk"),
            _values(points, "ridge_risk_error"),
            fmt="s",
            color="#3f90da",
            label="optimal ridge",
        )
    )
    artists.append(ax.axvline(1.0, color="0.5", lw=1, ls="--"))
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="p / n",
        ylabel=r"excess test risk $|\hat\beta-\beta|^2$",
        ylim=(0.05, 200),
    )
    ax.legend(fontsize=11)
    return artists


@styled
def draw_random_features(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """Test MSE (left) and AUC (right) of random-feature least squares against p/n."""
    ax, auc = fig.subplots(1, 2)
    ratio = _values(points, "ratio")
    artists = []
    for split in ("train", "test"):
        colour, style, marker = SPLIT_STYLE[split]
        mse = _values(points, f"{split}_mse")
        floor = 0.3 * np.nanmin(_values(points, "test_mse"))
        artists.append(
            ax.errorbar(
                ratio,
                np.maximum(mse, floor),
                _values(points, f"{split}_mse_error"),
                fmt=style,
                marker=marker,
                color=colour,
                label=f"{split}, min-norm",
            )
        )
    if "ridge_test_mse" in points[0]["result"]:
        artists += ax.plot(
            ratio,
            _values(points, "ridge_test_mse"),
            "-",
            marker="s",
            color="#3f90da",
            label="test, ridge chosen on validation",
        )
        artists += auc.plot(
            ratio,
            _values(points, "ridge_test_auc"),
            "-",
            marker="s",
            color="#3f90da",
            label="ridge chosen on validation",
        )
    artists.append(
        auc.errorbar(
            ratio,
            _values(points, "test_auc"),
            _values(points, "test_auc_error"),
            fmt=":",
            marker="^",
            color="#bd1f01",
            label="min-norm",
        )
    )
    for a in (ax, auc):
        artists.append(a.axvline(1.0, color="0.5", lw=1, ls="--"))
        a.set_xscale("log")
        a.set_xlabel(f"p / n (n = {points[0]['result']['n']})")
    # past p = n the fit interpolates: its training MSE is rounding error, drawn at the floor
    floor = 0.3 * np.nanmin(_values(points, "test_mse"))
    ax.set(yscale="log", ylabel="MSE of the label (train 0 past p = n)", ylim=(floor, None))
    auc.set_ylabel("test ROC AUC")
    ax.legend(fontsize=12)
    auc.legend(fontsize=12)
    return artists


@styled
def capacity_lines(
    ax: Axes, points: Points, line: str, x: str, label: Callable[[Any], str]
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
def draw_bdt_capacity(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """AUC against the number of trees for each depth (train dashed, validation solid) and
    the KS overtraining statistic."""
    ax, ks = fig.subplots(1, 2)
    artists = []
    for colour, sub in capacity_lines(ax, points, "max_depth", "n_estimators", "depth {}".format):
        artists += ks.plot(
            _values(sub, "n_estimators"),
            np.maximum(_values(sub, "ks_signal"), _values(sub, "ks_background")),
            "-",
            color=colour,
            marker="o",
        )
    artists += _limit(ax, summary)
    ax.set(xscale="log", xlabel="trees", ylabel="ROC AUC (train dashed, validation solid)")
    ks.set(xscale="log", xlabel="trees", ylabel="KS statistic D, train vs test (larger class)")
    ax.legend(fontsize=12)
    return artists


def _limit(ax: Axes, summary: Mapping[str, Any]) -> list[Any]:
    """The Bayes limit's AUC as a horizontal line, where the summary has it."""
    if summary.get("limit_auc") is None:
        return []
    return [ax.axhline(summary["limit_auc"], color="k", lw=1.5, label="Bayes limit (test)")]


@styled
def draw_ann_capacity(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """AUC against the number of parameters, one line per depth; the loss gap."""
    ax, gap = fig.subplots(1, 2)
    artists = []
    for colour, sub in capacity_lines(
        ax, points, "layers", "parameters", "{} hidden layer(s)".format
    ):
        artists += gap.plot(
            _values(sub, "parameters"),
            _values(sub, "loss_gap"),
            "-",
            color=colour,
            marker="o",
            label=f"{sub[0]['point']['layers']} hidden layer(s)",
        )
    artists += _limit(ax, summary)
    ax.set(
        xscale="log",
        xlabel="trainable parameters",
        ylabel="ROC AUC (train dashed, validation solid)",
    )
    gap.set(xscale="log", xlabel="trainable parameters", ylabel="test - train log-loss")
    ax.legend(fontsize=12)
    gap.legend(fontsize=12)
    return artists


@styled
def _draw_sweep(
    fig: Figure, points: Points, summary: Mapping[str, Any], axis: str, label: str
) -> list[Any]:
    """Final losses against the values of ``axis`` (left) and the per-epoch curves (right)."""
    ax, curves = fig.subplots(1, 2)
    values = [p["point"][axis] for p in points]
    x = np.arange(len(values))
    artists = error_panel(ax, x, points, "loss")
    ax.set_xticks(x, [format_value(v) for v in values])
    chosen = [format_value(v) for v in values].index(format_value(_chosen(summary, axis)[0]))
    artists.append(mark_choice(ax, chosen))
    if summary.get("limit_loss") is not None:
        limit = ax.axhline(summary["limit_loss"], color="k", lw=1.5, label="Bayes limit (test)")
        artists.append(limit)
    ax.set(xlabel=label, ylabel="log-loss (last epoch)")
    ax.legend(fontsize=12)
    for k, p in enumerate(points):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        c = p["result"]["curves"]
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        artists += curves.plot(epochs, c["train_loss"], "--", color=colour)
        artists += curves.plot(
            epochs,
            c["validation_loss"],
            "-",
            color=colour,
            label=f"{label} {format_value(p['point'][axis])}",
        )
    curves.set(xlabel="epoch", ylabel="log-loss (train dashed, validation solid)")
    curves.legend(fontsize=11)
    return artists


def draw_ann_weight_decay(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """Final losses against the weight decay, and the per-epoch curves."""
    return _draw_sweep(fig, points, summary, "weight_decay", "weight decay")


def draw_ann_dropout(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """Final losses against the dropout probability, and the per-epoch curves."""
    return _draw_sweep(fig, points, summary, "dropout", "dropout")


@styled
def draw_ann_overfit(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """Train against validation loss per epoch: the divergence of an over-sized network."""
    ax = fig.subplots()
    artists = []
    for k, p in enumerate(points):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        c = p["result"]["curves"]
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        n = p["point"]["n_train"]
        artists += ax.plot(epochs, c["train_loss"], "--", color=colour, label=f"train ({n} events)")
        artists += ax.plot(
            epochs, c["validation_loss"], "-", color=colour, label=f"validation ({n} events)"
        )
        best = int(np.argmin(c["validation_loss"])) + 1
        artists.append(
            ax.axvline(
                best, color=colour, lw=1, ls="-.", label=f"minimum validation loss, epoch {best}"
            )
        )
    if summary.get("limit_loss") is not None:
        limit = ax.axhline(summary["limit_loss"], color="k", lw=1.5, label="Bayes limit (test)")
        artists.append(limit)
    ax.set(xlabel="epoch", ylabel="log-loss", yscale="log")
    ax.legend(fontsize=11)
    return artists


@styled
def draw_learning_curve(fig: Figure, points: Points, summary: Mapping[str, Any]) -> list[Any]:
    """Train and test AUC against the training-set size per model, against the limit (left);
    the MLP's validation AUC against optimiser steps for each size (right)."""
    ax, steps = fig.subplots(1, 2)
    artists = []
    models = list(dict.fromkeys(p["point"]["model"] for p in points))
    for k, model in enumerate(models):
        sub = sorted(
            (p for p in points if p["point"]["model"] == model), key=lambda p: p["point"]["n_train"]
        )
        n = _values(sub, "n_train")
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        artists += ax.plot(n, _values(sub, "train_auc"), "--", color=colour, marker="o")
        artists += ax.plot(n, _values(sub, "test_auc"), "-", color=colour, marker="s", label=model)
    artists += _limit(ax, summary)
    ax.set(xscale="log", xlabel="training events", ylabel="ROC AUC (train dashed, test solid)")
    ax.legend(fontsize=12)
    mlp = sorted(
        (p for p in points if "curves" in p["result"]), key=lambda p: p["point"]["n_train"]
    )
    for k, p in enumerate(mlp):
        r = p["result"]
        x = r["steps_per_epoch"] * np.arange(1, len(r["curves"]["validation_auc"]) + 1)
        artists += steps.plot(
            x,
            r["curves"]["validation_auc"],
            "-",
            color=CURVE_COLOURS[k % len(CURVE_COLOURS)],
            label=f"{p['point']['n_train']} events",
        )
    artists += _limit(steps, summary)
    steps.set(xscale="log", xlabel="optimiser steps", ylabel="MLP validation ROC AUC")
    steps.legend(fontsize=11)
    return artists


@styled
def figure(study: str, points: Points, summary: Mapping[str, Any]) -> Figure:
    """A study's figure, titled (the points of a one-axis study in the order of their
    values, whatever the order of the grid in the config); write it with
    :func:`mlhep.plotting.save_figure`."""
    axes = STUDIES[study].axes
    if len(axes) == 1:
        points = sorted(points, key=lambda p: p["point"][axes[0]])
    entry = STUDIES[study]
    fig = blank_figure(figsize=entry.figure_size)
    entry.draw()(fig, points, summary)
    fig.suptitle(STUDIES[study].title, fontsize=18)
    return fig
