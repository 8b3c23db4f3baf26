"""Plots in one HEP style (mplhep): ROC curves against the Bayes limit, TMVA-style score
distributions, the perceptron's errors and decision regions, losses against the margin,
and training curves. Every figure is written atomically."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import matplotlib.pyplot as plt
import mplhep
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from mlhep.io import atomic_path

#: The house style on top of CMS's (mplhep); applied per figure, never globally.
STYLE = [mplhep.style.CMS, {"figure.figsize": (8, 6.5), "font.size": 16, "legend.fontsize": 13}]
_F = TypeVar("_F", bound=Callable[..., Any])


def styled(function: _F) -> _F:
    """Draw inside :data:`STYLE` (``matplotlib.style.context``): importing this module
    changes no global state, and a caller's own style is left alone."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.style.context(STYLE):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


SIGNAL, BACKGROUND = "#3f90da", "#e42536"
#: Ten distinguishable colours (Petroff's CMS palette) for plots with many curves.
CURVE_COLOURS = (
    "#3f90da",
    "#ffa90e",
    "#bd1f01",
    "#94a4a2",
    "#832db6",
    "#a96b59",
    "#e76300",
    "#b9ac70",
    "#717581",
    "#92dadd",
)


def save(fig: plt.Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` to ``path`` atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)


@styled
def roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    path: str | os.PathLike[str],
    bayes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    title: str = "",
) -> None:
    """Background rejection (1 - eff_B) against signal efficiency, weighted; the Bayes-optimal
    curve on the same axes. ``curves`` maps a legend label to (labels, scores, weights)."""
    fig, ax = plt.subplots()
    for k, (label, (y, s, w)) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(y, s, sample_weight=w)
        auc = roc_auc_score(y, s, sample_weight=w)
        # the style's cycle has 6 colours; up to 10 models each get their own
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        ax.plot(tpr, 1 - fpr, lw=2, color=colour, label=f"{label} (AUC {auc:.4f})")
    if bayes is not None:
        fpr, tpr, _ = roc_curve(bayes[0], bayes[1], sample_weight=bayes[2])
        auc = roc_auc_score(bayes[0], bayes[1], sample_weight=bayes[2])
        ax.plot(tpr, 1 - fpr, "k--", lw=1.5, label=f"Bayes-optimal, exact (AUC {auc:.4f})")
    ax.set(xlabel="Signal efficiency", ylabel="Background rejection (1 - bkg. efficiency)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(loc="lower left")
    save(fig, path)


@styled
def score_distributions(
    train: Mapping[str, np.ndarray],
    test: Mapping[str, np.ndarray],
    ks_p: Mapping[str, float],
    path: str | os.PathLike[str],
    xlabel: str = "Classifier score",
    bins: int = 40,
    title: str = "",
) -> None:
    """TMVA's overtraining plot: test as filled histograms, train as points with errors,
    both classes normalised to unit area, the KS p-values in the legend."""
    fig, ax = plt.subplots()
    everything = np.concatenate([*train.values(), *test.values()])
    lo, hi = np.percentile(everything, [0.1, 99.9])
    edges = np.linspace(lo, hi, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    for cls, colour in (("signal", SIGNAL), ("background", BACKGROUND)):
        ax.hist(
            np.clip(test[cls], lo, hi),
            edges,
            density=True,
            alpha=0.35,
            color=colour,
            label=f"{cls.capitalize()} (test)",
        )
        counts = np.histogram(np.clip(train[cls], lo, hi), edges)[0]
        norm = counts.sum() * width
        ax.errorbar(
            centres,
            counts / norm,
            yerr=np.sqrt(counts) / norm,
            fmt="o",
            ms=4,
            color=colour,
            label=f"{cls.capitalize()} (train), KS p = {ks_p[cls]:.3g}",
        )
    ax.set(xlabel=xlabel, ylabel="Normalised density", title=title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
    ax.legend(loc="upper center", ncol=1)
    save(fig, path)


@styled
def perceptron_errors(errors: Sequence[int], path: str | os.PathLike[str], title: str = "") -> None:
    """Misclassifications (updates) per epoch."""
    fig, ax = plt.subplots()
    epochs = np.arange(1, len(errors) + 1)
    ax.plot(epochs, errors, "o-", lw=2)
    ax.set(xlabel="Epoch", ylabel="Misclassifications", title=title)
    ax.set_xticks(epochs)
    save(fig, path)


@styled
def decision_regions(
    model: object,
    x: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike[str],
    labels: tuple[str, str],
    axes: tuple[str, str],
) -> None:
    """The classifier's two decision regions over a 2-D input plane, with the data."""
    fig, ax = plt.subplots()
    pad = 0.5
    gx, gy = np.meshgrid(
        np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 400),
        np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 400),
    )
    region = model.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)  # type: ignore[attr-defined]
    ax.contourf(gx, gy, region, levels=[-0.5, 0.5, 1.5], colors=[BACKGROUND, SIGNAL], alpha=0.2)
    for cls, colour, marker in ((0, BACKGROUND, "s"), (1, SIGNAL, "o")):
        ax.scatter(*x[y == cls].T, c=colour, marker=marker, edgecolor="k", label=labels[cls])
    ax.set(xlabel=axes[0], ylabel=axes[1])
    ax.legend(loc="upper left")
    save(fig, path)


@styled
def losses_vs_margin(path: str | os.PathLike[str]) -> None:
    """The 0-1 loss and its convex upper bounds against the margin z = y f(x), y = +-1."""
    z = np.linspace(-2.5, 2.5, 1001)
    fig, ax = plt.subplots()
    ax.plot(z, (z <= 0).astype(float), "k", lw=2.5, label="0-1 loss")
    ax.plot(z, (1 - z) ** 2, lw=2, label=r"MSE $(1 - z)^2$")
    ax.plot(z, np.logaddexp(0, -z) / np.log(2), lw=2, label=r"BCE $\log_2(1 + e^{-z})$")
    ax.plot(z, np.maximum(0, 1 - z), lw=2, label=r"Hinge $\max(0, 1 - z)$")
    ax.set(xlabel=r"Margin $z = y\,f(x)$", ylabel="Loss", ylim=(0, 4), xlim=(-2.5, 2.5))
    ax.legend(loc="upper right")
    save(fig, path)


@styled
def training_curves(
    panels: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
    path: str | os.PathLike[str],
    ylabel: str = "Loss",
) -> None:
    """Loss per epoch, one panel per title; in each, one colour per curve, solid for the
    training split and dashed for the validation split."""
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 6), squeeze=False)
    for ax, (title, histories) in zip(axes[0], panels.items(), strict=True):
        for k, (label, hist) in enumerate(histories.items()):
            epochs = np.arange(1, len(hist["train"]) + 1)
            ax.plot(epochs, hist["train"], color=f"C{k}", lw=2, label=label)
            if hist.get("validation"):
                ax.plot(epochs, hist["validation"], "--", color=f"C{k}", lw=2)
        ax.plot([], [], "k-", label="train")
        ax.plot([], [], "k--", label="validation")
        ax.set(xlabel="Epoch", ylabel=ylabel, title=title, xscale="log")
        ax.legend(loc="upper right")
    fig.tight_layout()
    save(fig, path)


@styled
def decision_tree(model: object, columns: Sequence[str], path: str | os.PathLike[str]) -> None:
    """The fitted tree with its cuts in physical units (scikit-learn's plot_tree)."""
    from sklearn.tree import plot_tree

    fig, ax = plt.subplots(figsize=(18, 8))
    plot_tree(
        model,
        feature_names=list(columns),
        class_names=["background", "signal"],
        filled=True,
        impurity=False,
        proportion=True,
        precision=2,
        fontsize=10,
        ax=ax,
    )
    save(fig, path)


@styled
def shap_summary(values: np.ndarray, inputs: object, path: str | os.PathLike[str]) -> None:
    """SHAP's beeswarm summary: each event's contribution per feature, coloured by value."""
    import shap

    shap.summary_plot(values, inputs, show=False, plot_size=(9, 6))
    fig = plt.gcf()
    fig.axes[0].set_xlabel("SHAP value (contribution to the log-odds)")
    save(fig, path)


@styled
def importance(table: object, path: str | os.PathLike[str], title: str = "") -> None:
    """Horizontal bars of the permutation importance (AUC drop) with their spread."""
    fig, ax = plt.subplots()
    rows = table.iloc[::-1]  # type: ignore[attr-defined]
    ax.barh(rows["feature"], rows["auc_drop"], xerr=rows["std"], color=SIGNAL)
    ax.set(xlabel="Drop of the test ROC AUC when shuffled", title=title)
    save(fig, path)


@styled
def ensemble_spread(
    labels: np.ndarray, probabilities: np.ndarray, path: str | os.PathLike[str]
) -> None:
    """Per-event ensemble spread against the ensemble mean, and its distribution per class."""
    mean, spread = probabilities.mean(axis=0), probabilities.std(axis=0, ddof=1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6))
    hb = left.hexbin(mean, spread, gridsize=50, bins="log", cmap="viridis", mincnt=1)
    fig.colorbar(hb, ax=left, label="Events")
    left.set(xlabel="Ensemble mean signal probability", ylabel="Spread across members (std)")
    edges = np.linspace(0, np.percentile(spread, 99.5), 41)
    for cls, colour, name in ((1, SIGNAL, "Signal"), (0, BACKGROUND, "Background")):
        right.hist(
            spread[labels == cls],
            edges,
            density=True,
            histtype="step",
            lw=2,
            color=colour,
            label=name,
        )
    right.set(xlabel="Spread across members (std)", ylabel="Normalised density")
    right.legend()
    fig.tight_layout()
    save(fig, path)


def _plot_range(values: np.ndarray, tail: float = 0.5) -> tuple[float, float]:
    """Histogram range: the central 99% of ``values``, widened to the true minimum or maximum
    where that end is a hard edge (within 10% of the width; phi, eta, a pT cut) rather than a
    long tail, so that no bin fills with clipped events."""
    lo, hi = np.percentile(values, [tail, 100 - tail])
    vmin, vmax = float(values.min()), float(values.max())
    width = hi - lo
    if lo - vmin < 0.1 * width:
        lo = vmin
    if vmax - hi < 0.1 * width:
        hi = vmax
    return float(lo), float(hi)


@styled
def feature_distributions(
    frame: object,
    columns: Sequence[str],
    labels: Mapping[str, str],
    path: str | os.PathLike[str],
    bins: int = 40,
) -> None:
    """Every feature, signal against background, one panel each: histograms weighted with the
    physics weights and normalised to unit area (shapes), the expected yields in the legend."""
    ncols = 4
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 4.6 * nrows), squeeze=False)
    label = frame["label"].to_numpy()  # type: ignore[index]
    weight = frame["weight"].to_numpy()  # type: ignore[index]
    classes = ((1, SIGNAL, "Signal"), (0, BACKGROUND, "Background"))
    for ax, column in zip(axes.flat, columns, strict=False):
        values = frame[column].to_numpy()  # type: ignore[index]
        if np.issubdtype(values.dtype, np.integer):
            edges = np.arange(values.min(), values.max() + 2) - 0.5
        else:
            edges = np.linspace(*_plot_range(values), bins + 1)
        for cls, colour, name in classes:
            mask = label == cls
            counts = np.histogram(
                np.clip(values[mask], edges[0], edges[-1]), edges, weights=weight[mask]
            )[0]
            mplhep.histplot(
                counts / counts.sum() / np.diff(edges),
                edges,
                ax=ax,
                color=colour,
                lw=2,
                label=f"{name} ({weight[mask].sum():,.0f} expected)",
            )
        ax.set_xlabel(labels.get(column, column), fontsize=15)
        ax.set_ylabel("Normalised density", fontsize=13)
        ax.tick_params(labelsize=12)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    axes.flat[0].legend(loc="upper right", fontsize=11)
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    fig.tight_layout()
    save(fig, path)


@styled
def training_history(
    records: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str], xlabel: str
) -> None:
    """Loss (top) and, where recorded, ROC AUC (bottom) per training step, one column per
    feature set: training solid, validation dashed, the kept step (``best_step``) marked."""
    rows = [("loss", "Loss")]
    if any("validation_auc" in r["curves"] or "train_auc" in r["curves"] for r in records.values()):
        rows.append(("auc", "ROC AUC"))
    fig, axes = plt.subplots(
        len(rows), len(records), figsize=(7 * len(records), 5 * len(rows)), squeeze=False
    )
    for col, (title, record) in enumerate(records.items()):
        best = record.get("best_step")
        for row, (key, ylabel) in enumerate(rows):
            ax = axes[row, col]
            for split, style in (("train", "-"), ("validation", "--")):
                values = record["curves"].get(f"{split}_{key}")
                if values:
                    steps = np.arange(1, len(values) + 1)
                    ax.plot(steps, values, style, lw=2, label=split)
            if best:
                ax.axvline(best, color="k", lw=1.2, ls="-.", label=f"kept ({best})")
            ax.set(xlabel=xlabel, ylabel=ylabel, title=title if row == 0 else "")
            ax.legend(loc="best")
    fig.tight_layout()
    save(fig, path)


@styled
def reliability(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike[str],
    title: str = "",
) -> None:
    """Reliability of each model's probabilities: mean exact posterior p* per bin of p
    (left: against the truth) beside the fraction of signal labels per bin (right: what a
    real analysis can measure). ``curves`` maps a legend label to the output of
    :func:`mlhep.evaluation.calibration.reliability`."""
    fig, (truth, labels) = plt.subplots(1, 2, figsize=(15, 6.5), sharey=True)
    for ax in (truth, labels):
        ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfect")
    for k, (label, r) in enumerate(curves.items()):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        truth.plot(r["mean_p"], r["mean_p_star"], "o-", ms=3, color=colour, label=label)
        labels.plot(r["label_mean_p"], r["label_fraction"], "o-", ms=3, color=colour, label=label)
    truth.set(
        xlabel="Predicted signal probability $p$",
        ylabel="Mean exact posterior $p^*$",
        xlim=(0, 1),
        ylim=(0, 1),
        title="against the truth",
    )
    labels.set(
        xlabel="Predicted signal probability $p$",
        ylabel="Fraction of signal labels",
        xlim=(0, 1),
        title="against the labels",
    )
    labels.tick_params(labelleft=True)
    truth.legend(fontsize=10, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


def ensemble_figure(
    probabilities: np.ndarray,
    labels: np.ndarray,
    p_star: np.ndarray | None,
    summary: Mapping[str, Any],
    path: str | os.PathLike[str],
    title: str = "",
) -> None:
    """The ensemble's figure: spread against true error and coverage where the exact
    posterior is known (:func:`ensemble_uncertainty`), else the spread alone."""
    if p_star is None:
        ensemble_spread(labels, probabilities, path)
        return
    mean, spread = probabilities.mean(axis=0), probabilities.std(axis=0, ddof=1)
    curves = (summary["coverage_k"], summary["coverage"], summary["coverage_honest"])
    ensemble_uncertainty(mean, spread, p_star, curves, len(probabilities), path, title)


@styled
def ensemble_uncertainty(
    mean: np.ndarray,
    spread: np.ndarray,
    p_star: np.ndarray,
    curves: tuple[Sequence[float], Sequence[float], Sequence[float]],
    members: int,
    path: str | os.PathLike[str],
    title: str = "",
) -> None:
    """An ensemble's per-event spread against its true error |mean - p*| (left) and the
    coverage of the error by k spreads (right), each beside what an honest ensemble of
    ``members`` unbiased, independent members gives (error about spread / sqrt(M);
    coverage from Student's t, :func:`mlhep.evaluation.uncertainty.honest_coverage`).
    ``curves`` is (k, measured coverage, honest coverage)."""
    error = np.abs(mean - p_star)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5))
    top = float(np.percentile(np.r_[spread, error], 99.5)) or 1e-3
    hb = left.hexbin(
        spread, error, gridsize=50, bins="log", cmap="viridis", mincnt=1, extent=(0, top, 0, top)
    )
    fig.colorbar(hb, ax=left, label="Events")
    left.plot(
        [0, top],
        [0, top / np.sqrt(members)],
        color="black",
        ls="--",
        lw=1.5,
        label=rf"error = spread / $\sqrt{{{members}}}$",
    )
    left.set(
        xlabel=r"Ensemble spread $\sigma$",
        ylabel=r"True error $|\bar p - p^*|$",
        xlim=(0, top),
        ylim=(0, top),
    )
    left.legend(loc="upper left")
    k, measured, honest = curves
    right.plot(k, honest, color="black", ls="--", lw=1, label=f"honest ensemble of {members}")
    right.plot(k, measured, lw=2, color=SIGNAL, label="this ensemble")
    right.set(
        xlabel=r"k (multiples of the spread $\sigma$)",
        ylabel=r"Fraction with $|\bar p - p^*| \leq k\sigma$",
        ylim=(0, 1.02),
    )
    right.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


@styled
def placeholder(path: str | os.PathLike[str], message: str) -> None:
    """A small figure that says why there is nothing to draw (a rule's output must exist)."""
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13)
    ax.set_axis_off()
    save(fig, path)
