"""Ensembles whose per-event spread is an uncertainty estimate: a deep ensemble of ANNs
(members differ by seed) and a bootstrap ensemble of BDTs (members trained on resamples
of the training split), each checked against the exact posterior where there is one
(:mod:`mlhep.evaluation.uncertainty`).

What tells the studies apart is data, an :class:`EnsembleStudy` made from the study's entry
of the registry :data:`mlhep.stages.model_studies.MODEL_STUDIES`; members train only through
their model's :class:`~mlhep.models.base.Trainer`. The prior the members' probabilities
refer to is their trainer's: the training split's for the ANN, 1:1 for the class-balanced
BDT (:func:`training_prior`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlhep.evaluation.calibration import posterior
from mlhep.evaluation.limit import join_limit
from mlhep.evaluation.uncertainty import coverage
from mlhep.studies import ensemble_summary

#: Trains one member on (train, validation) with a seed and returns test probabilities.
Member = Callable[[pd.DataFrame, pd.DataFrame, int], np.ndarray]


@dataclass(frozen=True)
class EnsembleStudy:
    """One ensemble study: its members' model (their settings are ``models.<model>``), how
    members differ, and its figure's title (the feature set is appended)."""

    model: str
    title: str
    seed_offset: int  # member k trains with seed: config seed + seed_offset + k
    bootstrap: bool = False  # members train on resamples of the training split
    overrides: tuple[str, ...] = ()  # keys of the study's section replacing the model's

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> EnsembleStudy:
        """From a rule's params (:meth:`mlhep.stages.model_studies.ModelStudiesStage.
        ensemble_spec`)."""
        return cls(**{**spec, "overrides": tuple(spec.get("overrides", ()))})


def member_settings(
    study: EnsembleStudy, model: Mapping[str, Any], section: Mapping[str, Any]
) -> dict[str, Any]:
    """The members' settings: the model's hyper-parameters with the study's overrides (its
    epochs for the ANN), ``min_epochs`` clipped to ``epochs`` where there are both."""
    settings = {**model, **{key: section[key] for key in study.overrides}}
    if "min_epochs" in settings and "epochs" in settings:
        settings["min_epochs"] = min(settings["min_epochs"], settings["epochs"])
    return settings


def training_prior(study: EnsembleStudy, train: pd.DataFrame) -> float:
    """The prior log-odds the members' probabilities are posteriors at: the training
    split's, or 0 for a trainer that balances the classes."""
    from mlhep.models import get_trainer
    from mlhep.models.training import training_prior_log_odds

    return training_prior_log_odds(get_trainer(study.model), train)


def train_ensemble(
    study: EnsembleStudy,
    splits: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    settings: Mapping[str, Any],
    members: int,
    seed: int,
    device: str = "cpu",
    threads: int = 1,
    log: Any = None,
) -> np.ndarray:
    """The members' signal probabilities of the test events (one row per member), each
    member fitted through its model's trainer with seed ``seed + study.seed_offset + k``
    (:func:`run_ensemble`)."""
    from mlhep.models import get_trainer
    from mlhep.models.base import FitContext

    trainer = get_trainer(study.model)

    def member(train: pd.DataFrame, validation: pd.DataFrame, member_seed: int) -> np.ndarray:
        fitted = trainer.fit(
            {"train": train, "validation": validation},
            columns,
            settings,
            FitContext(member_seed, device, threads),
        )
        if log is not None:
            log.info("seed %d: best step %s", member_seed, fitted.best_step)
        return trainer.probabilities(fitted, splits["test"], columns)

    return run_ensemble(member, splits, members, seed + study.seed_offset, study.bootstrap, log)


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
