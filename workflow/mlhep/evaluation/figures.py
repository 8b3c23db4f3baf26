"""The figures of one classifier's evaluation: its test ROC curve beside the exact limit's
(where there is one), and its score distributions on train and test with the KS p-values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd


def save_evaluation_figures(
    predictions: pd.DataFrame,
    limit: pd.Series | None,
    metrics: Mapping[str, Any],
    model: str,
    features: str,
    roc_path: str | os.PathLike[str],
    scores_path: str | os.PathLike[str],
) -> None:
    """Draw and save the ROC (with the limit's, on the same test events) and the score
    distributions (train against test, per class) of one classifier."""
    from mlhep import plotting
    from mlhep.evaluation.limit import join_limit

    title = f"{model} on {features}"
    part = {s: predictions[predictions["split"] == s] for s in ("train", "test")}
    y, w = part["test"]["label"].to_numpy(), part["test"]["weight"].to_numpy()
    fig, ax = plotting.new_figure()
    plotting.draw_roc(
        ax,
        {title: (y, part["test"]["score"].to_numpy(), w)},
        bayes=(y, join_limit(limit, part["test"]["event_id"]), w) if limit is not None else None,
    )
    plotting.save_figure(fig, roc_path)
    by_class = {
        s: {
            c: part[s].loc[part[s]["label"] == k, "score"].to_numpy()
            for c, k in (("signal", 1), ("background", 0))
        }
        for s in part
    }
    fig, ax = plotting.new_figure()
    plotting.draw_score_distributions(
        ax,
        by_class["train"],
        by_class["test"],
        {"signal": metrics["ks_p_signal"], "background": metrics["ks_p_background"]},
        xlabel=f"{model} score",
        title=title,
    )
    plotting.save_figure(fig, scores_path)
