"""The Bayes-optimal limit of each feature set, evaluated on given events.

The exact log-likelihood ratio (:func:`mlhep.physics.dimuon.bayes_log_likelihood_ratio`)
restricted to the latent information a feature set carries
(:func:`mlhep.features.bayes_latents`): `low` and `all` get the full ratio, `high` the ratio
without n_jets. Classifiers are compared with it on the same test events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlhep.data.dimuon.features import bayes_latents
from mlhep.evaluation.metrics import auc_with_ci
from mlhep.data.dimuon.physics import bayes_log_likelihood_ratio


def bayes_scores(frame: pd.DataFrame, feature_columns: Sequence[str]) -> np.ndarray:
    """Exact log-likelihood ratio of each event, limited to what ``feature_columns`` carry."""
    latents = bayes_latents(feature_columns)
    return bayes_log_likelihood_ratio({c: frame[c].to_numpy() for c in frame.columns}, latents)


def bayes_auc(
    frame: pd.DataFrame, feature_columns: Sequence[str], n_resamples: int = 100, seed: int = 0
) -> dict[str, float | list[str]]:
    """ROC AUC of the Bayes-optimal discriminant weighted by ``weight`` (with its bootstrap
    interval, :func:`mlhep.metrics.auc_with_ci`) and unweighted."""
    scores = bayes_scores(frame, feature_columns)
    labels = frame["label"].to_numpy()
    weighted = auc_with_ci(labels, scores, frame["weight"].to_numpy(), n_resamples, seed=seed)
    return {
        **weighted,
        "auc_unweighted": float(roc_auc_score(labels, scores)),
        "latents": list(bayes_latents(feature_columns)),
    }


def bayes_table(
    frame: pd.DataFrame,
    feature_sets: Mapping[str, Sequence[str]],
    names: Sequence[str],
    n_resamples: int = 100,
    seed: int = 0,
) -> dict[str, dict[str, float | list[str]]]:
    """:func:`bayes_auc` for each named feature set."""
    return {name: bayes_auc(frame, feature_sets[name], n_resamples, seed) for name in names}
