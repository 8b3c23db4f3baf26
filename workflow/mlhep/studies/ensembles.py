"""Ensembles whose per-event spread is an uncertainty estimate: a deep ensemble of ANNs
(members differ by seed) and a bootstrap ensemble of BDTs (members trained on resamples
of the training split), each checked against the exact posterior where there is one
(:mod:`mlhep.evaluation.uncertainty`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlhep.evaluation.calibration import posterior
from mlhep.evaluation.limit import join_limit
from mlhep.evaluation.uncertainty import coverage
from mlhep.studies import ensemble_summary

#: Trains one member on (train, validation) with a seed and returns test probabilities.
Member = Callable[[pd.DataFrame, pd.DataFrame, int], np.ndarray]


def bootstrap_resample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Rows drawn with replacement, as many as ``frame`` has (seeded)."""
    rng = np.random.default_rng(seed)
    return frame.iloc[rng.integers(0, len(frame), len(frame))].reset_index(drop=True)


def run_ensemble(
    member: Member,
    splits: Mapping[str, pd.DataFrame],
    members: int,
    seed: int,
    bootstrap: bool,
    log: Any = None,
) -> np.ndarray:
    """Test probabilities of ``members`` members (one row each); member k uses seed
    ``seed + k`` and, for a bootstrap ensemble, a resample of the training split."""
    rows = []
    for k in range(members):
        train = bootstrap_resample(splits["train"], seed + k) if bootstrap else splits["train"]
        rows.append(member(train, splits["validation"], seed + k))
        if log is not None:
            log.info("member %d of %d trained", k + 1, members)
    return np.array(rows)


def ensemble_result(
    probabilities: np.ndarray,
    test: pd.DataFrame,
    limit_scores: pd.Series | None,
    prior_log_odds: float,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The ensemble's summary and, where the exact posterior is known, its coverage;
    also returns p* of the test events (``None`` without a limit)."""
    labels = test["label"].to_numpy()
    summary = ensemble_summary(labels, probabilities)
    if limit_scores is None:
        return summary, None
    p_star = posterior(join_limit(limit_scores, test["event_id"]), prior_log_odds)
    mean, spread = probabilities.mean(axis=0), probabilities.std(axis=0, ddof=1)
    return {**summary, **coverage(mean, spread, p_star, len(probabilities))}, p_star
