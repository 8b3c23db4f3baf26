"""Figures of a hyper-parameter search: the best validation value against the trials
finished and against the wall time (how many trials it takes to get there), and Optuna's
own plots (optimisation history, parameter importances, parallel coordinates)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mlhep import plotting

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@plotting.styled
def draw_progress(
    ax: Axes,
    reach: pd.DataFrame,
    x: str,
    frame: pd.DataFrame,
    default: float | None,
    ylabel: str,
) -> list[Any]:
    """The best value so far (a step line) against ``x`` (``trials`` or ``wall_s``), every
    complete trial's value as a dot, pruned trials as crosses at their last reported value,
    and the default settings' validation value as a dashed line."""
    artists: list[Any] = []
    xs = reach[x].to_numpy() / (60.0 if x == "wall_s" else 1.0)
    artists += ax.step(xs, reach["best"], where="post", color="C0", label="best so far")
    position = dict(zip(reach["number"], xs, strict=True))
    for state, marker, color in (("COMPLETE", "o", "C0"), ("PRUNED", "x", "C3")):
        rows = frame[frame["state"] == state]
        if len(rows):
            artists.append(
                ax.scatter(
                    [position[n] for n in rows["number"]],
                    rows["value"],
                    marker=marker,
                    s=18,
                    color=color,
                    alpha=0.6,
                    label=state.lower(),
                )
            )
    if default is not None:
        artists.append(ax.axhline(default, ls="--", color="0.4", label="default settings"))
    ax.set_xlabel("trials finished" if x == "trials" else "wall time [min]")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=10)
    return artists


def progress_figure(
    reach: pd.DataFrame, frame: pd.DataFrame, default: float | None, ylabel: str, title: str
) -> Figure:
    """Trials-to-reach: against the trials finished and against the wall time."""
    fig, axes = plotting.new_figure(1, 2, figsize=(13, 5), layout="tight")
    frame = frame.assign(value=frame["value"].astype(float))  # None (no value): NaN, not drawn
    for ax, x in zip(axes, ("trials", "wall_s"), strict=True):
        draw_progress(ax, reach, x, frame, default, ylabel)
    fig.suptitle(title)
    return fig


def optuna_figure(
    plot: Callable[..., Any], study: optuna.Study, title: str, **kwargs: Any
) -> Figure:
    """One of Optuna's matplotlib plots of ``study`` as a figure (a placeholder saying why
    where the study cannot give it, e.g. importances with fewer than two complete trials)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            result = plot(study, **kwargs)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            fig, ax = plotting.new_figure(figsize=(6, 2))
            plotting.draw_placeholder(ax, f"{title}: {error}")
            return fig
    axes = result if not isinstance(result, np.ndarray) else result.ravel()[0]
    fig = axes.figure
    fig.set_size_inches(max(8.0, fig.get_size_inches()[0]), 5.0)
    fig.suptitle(title)
    return fig


def optuna_figures(study: optuna.Study, name: str) -> dict[str, Figure]:
    """Optuna's optimisation history, parameter importances (fANOVA) and parallel
    coordinates of the study, by output name."""
    from optuna.visualization import matplotlib as plots

    return {
        "history": optuna_figure(plots.plot_optimization_history, study, f"{name}: history"),
        "importances": optuna_figure(
            plots.plot_param_importances, study, f"{name}: parameter importances"
        ),
        "parallel": optuna_figure(
            plots.plot_parallel_coordinate, study, f"{name}: parallel coordinates"
        ),
    }
