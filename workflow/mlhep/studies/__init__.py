"""Interpretability and uncertainty studies: permutation importance (scikit-learn), SHAP
rankings, and the per-event spread of a deep ensemble (Lakshminarayanan et al., Simple and
scalable predictive uncertainty estimation using deep ensembles, NeurIPS 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows drawn without replacement (seeded)."""
    if len(frame) <= n:
        return frame
    return frame.sample(n=n, random_state=seed)


def importance_table(
    estimator: Any, frame: pd.DataFrame, columns: Sequence[str], repeats: int, seed: int
) -> pd.DataFrame:
    """Mean and standard deviation of the ROC AUC drop when each column is shuffled,
    largest first."""
    from sklearn.inspection import permutation_importance  # light package import for the plan

    result = permutation_importance(
        estimator,
        frame[list(columns)],
        frame["label"].to_numpy(),
        scoring="roc_auc",
        n_repeats=repeats,
        random_state=seed,
    )
    table = pd.DataFrame(
        {
            "feature": list(columns),
            "auc_drop": result.importances_mean,
            "std": result.importances_std,
        }
    )
    return table.sort_values("auc_drop", ascending=False).reset_index(drop=True)


def shap_ranking(values: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """Features ranked by mean |SHAP value| (log-odds units)."""
    table = pd.DataFrame({"feature": list(columns), "mean_abs_shap": np.abs(values).mean(axis=0)})
    return table.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)


def ensemble_summary(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """AUC of each member and of the ensemble mean; the per-event spread (standard deviation
    across members) overall and per class. ``probabilities`` has one row per member."""
    from sklearn.metrics import roc_auc_score

    mean = probabilities.mean(axis=0)
    spread = probabilities.std(axis=0, ddof=1)
    return {
        "members": len(probabilities),
        "member_auc": [float(roc_auc_score(labels, p)) for p in probabilities],
        "ensemble_auc": float(roc_auc_score(labels, mean)),
        "mean_spread": float(spread.mean()),
        "median_spread": float(np.median(spread)),
        "mean_spread_signal": float(spread[labels == 1].mean()),
        "mean_spread_background": float(spread[labels == 0].mean()),
    }
