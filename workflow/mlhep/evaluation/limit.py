"""The exact limit of a feature set, evaluated on given events.

A dataset plug-in with known densities declares its Bayes-optimal discriminant
(:class:`mlhep.data.ExactLimit`); for the dimuon toy it is the exact log-likelihood ratio
restricted to the latent information a feature set carries (`low` and `all` get the full
ratio, `high` the ratio without the jet multiplicity). Classifiers are compared with it on the same test
events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from sklearn.metrics import roc_auc_score

from mlhep.data import ExactLimit
from mlhep.evaluation.metrics import auc_with_ci


def limit_auc(
    limit: ExactLimit,
    frame: pd.DataFrame,
    feature_columns: Sequence[str],
    n_resamples: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """ROC AUC of the Bayes-optimal discriminant weighted by ``weight`` (with its bootstrap
    interval, :func:`mlhep.evaluation.metrics.auc_with_ci`) and unweighted."""
    scores = limit.scores(frame, feature_columns)
    labels = frame["label"].to_numpy()
    weighted = auc_with_ci(labels, scores, frame["weight"].to_numpy(), n_resamples, seed=seed)
    return {**weighted, "auc_unweighted": float(roc_auc_score(labels, scores))}


def limit_table(
    limit: ExactLimit,
    frame: pd.DataFrame,
    feature_sets: Mapping[str, Sequence[str]],
    n_resamples: int = 100,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """:func:`limit_auc` for each named feature set."""
    return {
        name: limit_auc(limit, frame, columns, n_resamples, seed)
        for name, columns in feature_sets.items()
    }
