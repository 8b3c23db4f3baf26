"""Plots in one HEP style (mplhep), drawn as scikit-hep hist draws: each ``draw_*`` function
takes the axes to draw on and returns its artists; :func:`new_figure` makes a figure in the
house style and :func:`save_figure` writes it (the one place figures are written). ROC
curves against the Bayes limit, TMVA-style score distributions, the perceptron's errors and
decision regions, losses against the margin, training curves, feature distributions,
reliability and ensemble figures. Matplotlib is imported only when something is drawn."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from mlhep.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.colorbar import Colorbar
    from matplotlib.container import BarContainer, ErrorbarContainer
    from matplotlib.contour import QuadContourSet
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D
    from matplotlib.text import Annotation, Text

#: The house settings on top of CMS's style (mplhep), see :func:`style`.
HOUSE_STYLE = {"figure.figsize": (8, 6.5), "font.size": 16, "legend.fontsize": 13}
#: Resolution of every written figure (dots per inch).
DPI = 100
_F = TypeVar("_F", bound=Callable[..., Any])


def style() -> list[Any]:
    """The house style for ``matplotlib.style.context``: CMS's (mplhep) with
    :data:`HOUSE_STYLE`; applied per figure, never globally."""
    import mplhep

    return [mplhep.style.CMS, HOUSE_STYLE]


def styled(function: _F) -> _F:
    """Run ``function`` inside :func:`style` (``matplotlib.style.context``): new artists,
    axes and figures take the house style, and a caller's own style is left alone."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib.pyplot as plt

        with plt.style.context(style()):
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


@styled
def new_figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A figure and its axes in the house style (``plt.subplots``; ``figsize``, ``squeeze``,
    ``sharey``, ``gridspec_kw``, ``layout="tight"`` pass through): draw on them with the
    ``draw_*`` functions and write the figure with :func:`save_figure`."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, **kwargs)


@styled
def blank_figure(**kwargs: Any) -> Figure:
    """A figure without axes in the house style (``plt.figure``), for layouts a
    ``draw_*`` function builds itself (grid specs, ratio panels)."""
    import matplotlib.pyplot as plt

    return plt.figure(**kwargs)


@styled
def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` to ``path`` atomically (format from the suffix, :data:`DPI`, tight
    bounding box) and close it, also when writing fails. Rendered inside the house style:
    fonts and tick labels are resolved when the figure is rendered."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)


class RocArtists(NamedTuple):
    """What :func:`draw_roc` drew."""

    curves: list[Line2D]
    bayes: Line2D | None
    legend: Legend


@styled
def draw_roc(
    ax: Axes,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    bayes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    title: str = "",
) -> RocArtists:
    """Background rejection (1 - eff_B) against signal efficiency, weighted; the Bayes-optimal
    curve on the same axes. ``curves`` maps a legend label to (labels, scores, weights)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    lines = []
    for k, (label, (y, s, w)) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(y, s, sample_weight=w)
        auc = roc_auc_score(y, s, sample_weight=w)
        # the style's cycle has 6 colours; up to 10 models each get their own
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        lines += ax.plot(tpr, 1 - fpr, lw=2, color=colour, label=f"{label} (AUC {auc:.4f})")
    limit = None
    if bayes is not None:
        fpr, tpr, _ = roc_curve(bayes[0], bayes[1], sample_weight=bayes[2])
        auc = roc_auc_score(bayes[0], bayes[1], sample_weight=bayes[2])
        (limit,) = ax.plot(
            tpr, 1 - fpr, "k--", lw=1.5, label=f"Bayes-optimal, exact (AUC {auc:.4f})"
        )
    ax.set(xlabel="Signal efficiency", ylabel="Background rejection (1 - bkg. efficiency)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), title=title)
    return RocArtists(lines, limit, ax.legend(loc="lower left"))


class ScoreArtists(NamedTuple):
    """What :func:`draw_score_distributions` drew, signal first."""

    test: list[BarContainer]
    train: list[ErrorbarContainer]
    legend: Legend


@styled
def draw_score_distributions(
    ax: Axes,
    train: Mapping[str, np.ndarray],
    test: Mapping[str, np.ndarray],
    ks_p: Mapping[str, float],
    xlabel: str = "Classifier score",
    bins: int = 40,
    title: str = "",
) -> ScoreArtists:
    """TMVA's overtraining plot: test as filled histograms, train as points with errors,
    both classes normalised to unit area, the KS p-values in the legend."""
    everything = np.concatenate([*train.values(), *test.values()])
    lo, hi = np.percentile(everything, [0.1, 99.9])
    edges = np.linspace(lo, hi, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    filled, points = [], []
    for cls, colour in (("signal", SIGNAL), ("background", BACKGROUND)):
        filled.append(
            ax.hist(
                np.clip(test[cls], lo, hi),
                edges,
                density=True,
                alpha=0.35,
                color=colour,
                label=f"{cls.capitalize()} (test)",
            )[2]
        )
        counts = np.histogram(np.clip(train[cls], lo, hi), edges)[0]
        norm = counts.sum() * width
        points.append(
            ax.errorbar(
                centres,
                counts / norm,
                yerr=np.sqrt(counts) / norm,
                fmt="o",
                ms=4,
                color=colour,
                label=f"{cls.capitalize()} (train), KS p = {ks_p[cls]:.3g}",
            )
        )
    ax.set(xlabel=xlabel, ylabel="Normalised density", title=title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
    return ScoreArtists(filled, points, ax.legend(loc="upper center", ncol=1))


@styled
def draw_perceptron_errors(ax: Axes, errors: Sequence[int], title: str = "") -> Line2D:
    """Misclassifications (updates) per epoch."""
    epochs = np.arange(1, len(errors) + 1)
    (line,) = ax.plot(epochs, errors, "o-", lw=2)
    ax.set(xlabel="Epoch", ylabel="Misclassifications", title=title)
    ax.set_xticks(epochs)
    return line


class RegionArtists(NamedTuple):
    """What :func:`draw_decision_regions` drew: the filled regions, the points per class."""

    regions: QuadContourSet
    points: list[PathCollection]
    legend: Legend


@styled
def draw_decision_regions(
    ax: Axes,
    model: object,
    x: np.ndarray,
    y: np.ndarray,
    labels: tuple[str, str],
    axis_labels: tuple[str, str],
) -> RegionArtists:
    """The classifier's two decision regions over a 2-D input plane, with the data."""
    pad = 0.5
    gx, gy = np.meshgrid(
        np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 400),
        np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 400),
    )
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    region = model.predict(grid).reshape(gx.shape)  # type: ignore[attr-defined]
    regions = ax.contourf(
        gx, gy, region, levels=[-0.5, 0.5, 1.5], colors=[BACKGROUND, SIGNAL], alpha=0.2
    )
    points = [
        ax.scatter(*x[y == cls].T, c=colour, marker=marker, edgecolor="k", label=labels[cls])
        for cls, colour, marker in ((0, BACKGROUND, "s"), (1, SIGNAL, "o"))
    ]
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1])
    return RegionArtists(regions, points, ax.legend(loc="upper left"))


@styled
def draw_losses_vs_margin(ax: Axes) -> list[Line2D]:
    """The 0-1 loss and its convex upper bounds against the margin z = y f(x), y = +-1."""
    z = np.linspace(-2.5, 2.5, 1001)
    lines = ax.plot(z, (z <= 0).astype(float), "k", lw=2.5, label="0-1 loss")
    lines += ax.plot(z, (1 - z) ** 2, lw=2, label=r"MSE $(1 - z)^2$")
    lines += ax.plot(z, np.logaddexp(0, -z) / np.log(2), lw=2, label=r"BCE $\log_2(1 + e^{-z})$")
    lines += ax.plot(z, np.maximum(0, 1 - z), lw=2, label=r"Hinge $\max(0, 1 - z)$")
    ax.set(xlabel=r"Margin $z = y\,f(x)$", ylabel="Loss", ylim=(0, 4), xlim=(-2.5, 2.5))
    ax.legend(loc="upper right")
    return lines


@styled
def draw_training_curves(
    axes: Sequence[Axes],
    panels: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
    ylabel: str = "Loss",
) -> list[list[Line2D]]:
    """Loss per epoch, one of ``axes`` per panel title; in each, one colour per curve, solid
    for the training split and dashed for the validation split. The lines per panel."""
    drawn = []
    for ax, (title, histories) in zip(axes, panels.items(), strict=True):
        lines: list[Line2D] = []
        for k, (label, hist) in enumerate(histories.items()):
            epochs = np.arange(1, len(hist["train"]) + 1)
            lines += ax.plot(epochs, hist["train"], color=f"C{k}", lw=2, label=label)
            if hist.get("validation"):
                lines += ax.plot(epochs, hist["validation"], "--", color=f"C{k}", lw=2)
        ax.plot([], [], "k-", label="train")
        ax.plot([], [], "k--", label="validation")
        ax.set(xlabel="Epoch", ylabel=ylabel, title=title, xscale="log")
        ax.legend(loc="upper right")
        drawn.append(lines)
    return drawn


def training_curves_figure(
    panels: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]], ylabel: str = "Loss"
) -> Figure:
    """:func:`draw_training_curves` on a row of panels, 7 x 6 inches each."""
    fig, axes = new_figure(
        1, len(panels), figsize=(7 * len(panels), 6), squeeze=False, layout="tight"
    )
    draw_training_curves(axes[0], panels, ylabel)
    return fig


@styled
def draw_decision_tree(ax: Axes, model: object, columns: Sequence[str]) -> list[Annotation]:
    """The fitted tree with its cuts in physical units (scikit-learn's plot_tree); the
    figure should be wide (18 x 8 inches for a depth-3 tree)."""
    from sklearn.tree import plot_tree

    return plot_tree(
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


@styled
def draw_shap_summary(ax: Axes, values: np.ndarray, inputs: object, seed: int = 0) -> list[Any]:
    """SHAP's beeswarm summary on ``ax`` (its figure made current: SHAP draws on pyplot's
    current axes, adds a colour bar and tightens the layout): each event's contribution
    per feature, coloured by value, the points' jitter drawn from ``seed`` (never from
    NumPy's global generator). The points drawn."""
    import matplotlib.pyplot as plt
    import shap

    plt.sca(ax)
    before = len(ax.collections)
    shap.summary_plot(values, inputs, show=False, plot_size=None, rng=np.random.default_rng(seed))
    ax.set_xlabel("SHAP value (contribution to the log-odds)")
    return list(ax.collections[before:])


@styled
def draw_importance(ax: Axes, table: object, title: str = "") -> BarContainer:
    """Horizontal bars of the permutation importance (AUC drop) with their spread."""
    rows = table.iloc[::-1]  # type: ignore[attr-defined]
    bars = ax.barh(rows["feature"], rows["auc_drop"], xerr=rows["std"], color=SIGNAL)
    ax.set(xlabel="Drop of the test ROC AUC when shuffled", title=title)
    return bars


class SpreadArtists(NamedTuple):
    """What :func:`draw_ensemble_spread` drew: the 2-D histogram and its colour bar, the
    spread's histogram per class (signal first)."""

    hexbin: PolyCollection
    colorbar: Colorbar
    histograms: list[Any]
    legend: Legend


@styled
def draw_ensemble_spread(
    axes: Sequence[Axes], labels: np.ndarray, probabilities: np.ndarray
) -> SpreadArtists:
    """Per-event ensemble spread against the ensemble mean (first of ``axes``, with a colour
    bar), and its distribution per class (second)."""
    left, right = axes
    mean, spread = probabilities.mean(axis=0), probabilities.std(axis=0, ddof=1)
    hb = left.hexbin(mean, spread, gridsize=50, bins="log", cmap="viridis", mincnt=1)
    colorbar = left.figure.colorbar(hb, ax=left, label="Events")
    left.set(xlabel="Ensemble mean signal probability", ylabel="Spread across members (std)")
    edges = np.linspace(0, np.percentile(spread, 99.5), 41)
    histograms = [
        right.hist(
            spread[labels == cls],
            edges,
            density=True,
            histtype="step",
            lw=2,
            color=colour,
            label=name,
        )[2]
        for cls, colour, name in ((1, SIGNAL, "Signal"), (0, BACKGROUND, "Background"))
    ]
    right.set(xlabel="Spread across members (std)", ylabel="Normalised density")
    return SpreadArtists(hb, colorbar, histograms, right.legend())


class UncertaintyArtists(NamedTuple):
    """What :func:`draw_ensemble_uncertainty` drew: the 2-D histogram and its colour bar,
    the honest error line, the honest and measured coverage curves."""

    hexbin: PolyCollection
    colorbar: Colorbar
    honest_error: Line2D
    honest_coverage: Line2D
    coverage: Line2D


@styled
def draw_ensemble_uncertainty(
    axes: Sequence[Axes],
    mean: np.ndarray,
    spread: np.ndarray,
    p_star: np.ndarray,
    curves: tuple[Sequence[float], Sequence[float], Sequence[float]],
    members: int,
) -> UncertaintyArtists:
    """An ensemble's per-event spread against its true error |mean - p*| (first of ``axes``)
    and the coverage of the error by k spreads (second), each beside what an honest
    ensemble of ``members`` unbiased, independent members gives (error about spread /
    sqrt(M); coverage from Student's t, :func:`mlhep.evaluation.uncertainty.honest_coverage`).
    ``curves`` is (k, measured coverage, honest coverage)."""
    left, right = axes
    error = np.abs(mean - p_star)
    top = float(np.percentile(np.r_[spread, error], 99.5)) or 1e-3
    hb = left.hexbin(
        spread, error, gridsize=50, bins="log", cmap="viridis", mincnt=1, extent=(0, top, 0, top)
    )
    colorbar = left.figure.colorbar(hb, ax=left, label="Events")
    (honest_error,) = left.plot(
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
    (honest_line,) = right.plot(
        k, honest, color="black", ls="--", lw=1, label=f"honest ensemble of {members}"
    )
    (measured_line,) = right.plot(k, measured, lw=2, color=SIGNAL, label="this ensemble")
    right.set(
        xlabel=r"k (multiples of the spread $\sigma$)",
        ylabel=r"Fraction with $|\bar p - p^*| \leq k\sigma$",
        ylim=(0, 1.02),
    )
    right.legend(loc="lower right")
    return UncertaintyArtists(hb, colorbar, honest_error, honest_line, measured_line)


@styled
def ensemble_figure(
    probabilities: np.ndarray,
    labels: np.ndarray,
    p_star: np.ndarray | None,
    summary: Mapping[str, Any],
    title: str = "",
) -> Figure:
    """The ensemble's figure: spread against true error and coverage where the exact
    posterior is known (:func:`draw_ensemble_uncertainty`, titled), else the spread alone
    (:func:`draw_ensemble_spread`)."""
    if p_star is None:
        fig, axes = new_figure(1, 2, figsize=(15, 6), layout="tight")
        draw_ensemble_spread(axes, labels, probabilities)
        return fig
    fig, axes = new_figure(1, 2, figsize=(15, 6.5), layout="tight")
    mean, spread = probabilities.mean(axis=0), probabilities.std(axis=0, ddof=1)
    curves = (summary["coverage_k"], summary["coverage"], summary["coverage_honest"])
    draw_ensemble_uncertainty(axes, mean, spread, p_star, curves, len(probabilities))
    if title:
        fig.suptitle(title)
    return fig


def plot_range(values: np.ndarray, tail: float = 0.5) -> tuple[float, float]:
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
def draw_feature_distributions(
    axes: Sequence[Axes],
    frame: object,
    columns: Sequence[str],
    labels: Mapping[str, str],
    bins: int = 40,
) -> list[list[Any]]:
    """Every feature, signal against background, one of ``axes`` each (the legend on the
    first, axes left over hidden): histograms weighted with the physics weights and
    normalised to unit area (shapes), the expected yields in the legend. The histograms
    per feature."""
    import mplhep

    label = frame["label"].to_numpy()  # type: ignore[index]
    weight = frame["weight"].to_numpy()  # type: ignore[index]
    classes = ((1, SIGNAL, "Signal"), (0, BACKGROUND, "Background"))
    drawn = []
    for ax, column in zip(axes, columns, strict=False):
        values = frame[column].to_numpy()  # type: ignore[index]
        if np.issubdtype(values.dtype, np.integer):
            edges = np.arange(values.min(), values.max() + 2) - 0.5
        else:
            edges = np.linspace(*plot_range(values), bins + 1)
        histograms = []
        for cls, colour, name in classes:
            mask = label == cls
            counts = np.histogram(
                np.clip(values[mask], edges[0], edges[-1]), edges, weights=weight[mask]
            )[0]
            histograms += mplhep.histplot(
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
        drawn.append(histograms)
    axes[0].legend(loc="upper right", fontsize=11)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    return drawn


def feature_figure(
    frame: object, columns: Sequence[str], labels: Mapping[str, str], bins: int = 40
) -> Figure:
    """:func:`draw_feature_distributions` on a grid four panels wide, 5.5 x 4.6 inches each."""
    ncols = 4
    nrows = -(-len(columns) // ncols)
    fig, axes = new_figure(
        nrows, ncols, figsize=(5.5 * ncols, 4.6 * nrows), squeeze=False, layout="tight"
    )
    draw_feature_distributions(list(axes.flat), frame, columns, labels, bins)
    return fig


def history_rows(records: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The rows of :func:`draw_training_history`, (curve key, y label): the loss, and the
    ROC AUC where any record has it."""
    rows = [("loss", "Loss")]
    if any("validation_auc" in r["curves"] or "train_auc" in r["curves"] for r in records.values()):
        rows.append(("auc", "ROC AUC"))
    return rows


@styled
def draw_training_history(
    axes: np.ndarray, records: Mapping[str, Mapping[str, Any]], xlabel: str
) -> list[Line2D]:
    """Loss (top) and, where recorded, ROC AUC (bottom) per training step, one column per
    feature set, on the 2-D array ``axes`` (rows as :func:`history_rows`): training solid,
    validation dashed, the kept step (``best_step``) marked. The lines drawn."""
    lines: list[Line2D] = []
    rows = history_rows(records)
    for col, (title, record) in enumerate(records.items()):
        best = record.get("best_step")
        for row, (key, ylabel) in enumerate(rows):
            ax = axes[row, col]
            for split, line_style in (("train", "-"), ("validation", "--")):
                values = record["curves"].get(f"{split}_{key}")
                if values:
                    steps = np.arange(1, len(values) + 1)
                    lines += ax.plot(steps, values, line_style, lw=2, label=split)
            if best:
                lines.append(ax.axvline(best, color="k", lw=1.2, ls="-.", label=f"kept ({best})"))
            ax.set(xlabel=xlabel, ylabel=ylabel, title=title if row == 0 else "")
            ax.legend(loc="best")
    return lines


def training_history_figure(records: Mapping[str, Mapping[str, Any]], xlabel: str) -> Figure:
    """:func:`draw_training_history` on its grid of panels, 7 x 5 inches each."""
    rows = len(history_rows(records))
    fig, axes = new_figure(
        rows, len(records), figsize=(7 * len(records), 5 * rows), squeeze=False, layout="tight"
    )
    draw_training_history(axes, records, xlabel)
    return fig


class ReliabilityArtists(NamedTuple):
    """What :func:`draw_reliability` drew: the curves against the truth and against the
    labels (the diagonal first in each)."""

    truth: list[Line2D]
    labels: list[Line2D]
    legend: Legend


@styled
def draw_reliability(
    axes: Sequence[Axes], curves: Mapping[str, Mapping[str, Sequence[float]]]
) -> ReliabilityArtists:
    """Reliability of each model's probabilities: mean exact posterior p* per bin of p
    (first of ``axes``: against the truth) beside the fraction of signal labels per bin
    (second: what a real analysis can measure). ``curves`` maps a legend label to the
    output of :func:`mlhep.evaluation.calibration.reliability`."""
    truth, labels = axes
    drawn: tuple[list[Line2D], list[Line2D]] = ([], [])
    for ax, lines in zip(axes, drawn, strict=True):
        lines += ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfect")
    for k, (label, r) in enumerate(curves.items()):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        drawn[0].extend(
            truth.plot(r["mean_p"], r["mean_p_star"], "o-", ms=3, color=colour, label=label)
        )
        drawn[1].extend(
            labels.plot(
                r["label_mean_p"], r["label_fraction"], "o-", ms=3, color=colour, label=label
            )
        )
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
    return ReliabilityArtists(*drawn, truth.legend(fontsize=10, loc="upper left"))


@styled
def reliability_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]], title: str = ""
) -> Figure:
    """:func:`draw_reliability` on two panels sharing the y axis, titled."""
    fig, axes = new_figure(1, 2, figsize=(15, 6.5), sharey=True, layout="tight")
    draw_reliability(axes, curves)
    if title:
        fig.suptitle(title)
    return fig


@styled
def draw_placeholder(ax: Axes, message: str) -> Text:
    """Say why there is nothing to draw (a rule's output must exist), axes hidden; the
    figure should be small (6 x 2 inches)."""
    text = ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13)
    ax.set_axis_off()
    return text
