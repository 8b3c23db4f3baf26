"""The exact limit of a feature set, evaluated on given events.

A dataset plug-in with known densities declares its Bayes-optimal discriminant
(:class:`mlhep.data.ExactLimit`): the log-likelihood ratio of the accepted densities given
what a feature set carries. Classifiers are compared with it on the same test events
(joined on ``event_id``), and the limit itself goes through the classifiers' evaluation as
a model that needs no training, so that every metric has its value at the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mlhep.data import ExactLimit
from mlhep.evaluation.calibration import posterior


def finite_scores(limit: ExactLimit, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The exact log-likelihood ratio of every event of ``frame``; ``ValueError`` where one
    is not finite (an event impossible in a class: not from this dataset's generator)."""
    scores = np.asarray(limit.scores(frame, columns), dtype=float)
    bad = ~np.isfinite(scores)
    if bad.any():
        ids = frame["event_id"].to_numpy()[bad][:5].tolist()
        raise ValueError(
            f"{int(bad.sum())} of {len(scores)} events have no finite exact log-likelihood "
            f"ratio for columns {list(columns)} (event_id {ids}...): impossible in a class"
        )
    return scores


def limit_scores(limit: ExactLimit, frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The exact log-likelihood ratio of every event of ``frame``, indexed by ``event_id``."""
    return pd.Series(
        finite_scores(limit, frame, columns), index=pd.Index(frame["event_id"], name="event_id")
    )


def join_limit(scores: pd.Series, event_ids: Sequence[int] | np.ndarray | pd.Series) -> np.ndarray:
    """The limit's scores of the given events, in their order (joined on ``event_id``);
    ``ValueError`` naming how many have none."""
    joined = scores.reindex(np.asarray(event_ids)).to_numpy()
    missing = np.isnan(joined)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} of {len(joined)} events have no limit score")
    return joined


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
        score = finite_scores(limit, frame, columns)
        part = frame[["event_id", "label", "weight"]].copy()
        part.insert(0, "split", split)
        part["score"] = score
        part["proba"] = posterior(score, log_odds)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
