"""The exact limit of a feature set, evaluated on given events.

A dataset plug-in with known densities declares its Bayes-optimal discriminant
(:class:`mlhep.data.ExactLimit`): the log-likelihood ratio of the accepted densities given
what a feature set carries. Classifiers are compared with it on the same test events
(joined on ``event_id``), and the limit itself goes through the classifiers' evaluation as
a model that needs no training, so that every metric has its value at the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mlhep.data import ExactLimit
from mlhep.evaluation.calibration import posterior


def limit_scores(limit: ExactLimit, frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The exact log-likelihood ratio of every event of ``frame``, indexed by ``event_id``."""
    return pd.Series(
        limit.scores(frame, columns), index=pd.Index(frame["event_id"], name="event_id")
    )


def limit_predictions(
    limit: ExactLimit,
    splits: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    log_odds: float,
) -> pd.DataFrame:
    """The limit's predictions on every split in the layout of a trained model's: ``score``
    the log-likelihood ratio, ``proba`` the exact posterior at the prior ``log_odds``."""
    parts = []
    for split, frame in splits.items():
        score = limit.scores(frame, columns)
        part = frame[["event_id", "label", "weight"]].copy()
        part.insert(0, "split", split)
        part["score"] = score
        part["proba"] = posterior(score, log_odds)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
