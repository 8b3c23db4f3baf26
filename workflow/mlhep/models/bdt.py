"""Boosted decision trees with XGBoost (``hist``), early stopping on the validation split,
class-balanced training weights; SHAP values for interpretation (TreeSHAP).

References: T. Chen and C. Guestrin, XGBoost, KDD 2016; S. Lundberg et al., From local
explanations to global understanding with explainable AI for trees, Nat. Mach. Intell. 2
(2020).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from mlhep.models.base import (
    FitContext,
    Fitted,
    StepHook,
    Trainer,
    margin_frame,
    split_curves,
)

log = logging.getLogger(__name__)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-event training weights giving each class the same total weight (mean 1)."""
    labels = np.asarray(labels)
    weights = np.empty(len(labels))
    for cls in np.unique(labels):
        mask = labels == cls
        weights[mask] = len(labels) / (2.0 * mask.sum())
    return weights


def booster_params(settings: Mapping[str, Any], device: str, threads: int, seed: int) -> dict:
    """XGBoost parameters from the config section ``models.bdt``."""
    return {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "logloss"],  # early stopping watches the last one
        "tree_method": "hist",
        "device": device,
        "nthread": threads,
        "seed": seed,
        "max_depth": settings["max_depth"],
        "eta": settings["learning_rate"],
        "subsample": settings["subsample"],
        "colsample_bytree": settings["colsample_bytree"],
        "min_child_weight": settings["min_child_weight"],
        "lambda": settings["reg_lambda"],
        "max_bin": settings["max_bin"],
    }


def dmatrix(frame: pd.DataFrame, columns: Sequence[str], weights: bool = False) -> xgb.DMatrix:
    """The inputs (float64, named) and labels of a split; class-balanced weights if asked."""
    labels = frame["label"].to_numpy()
    return xgb.DMatrix(
        frame[list(columns)].astype(np.float64),
        label=labels,
        weight=balanced_weights(labels) if weights else None,
        feature_names=list(columns),
    )


class StepReport(xgb.callback.TrainingCallback):
    """Hands each boosting round's validation AUC and log-loss to a
    :data:`~mlhep.models.base.StepHook` (which may raise to stop the boosting)."""

    def __init__(self, hook: StepHook) -> None:
        super().__init__()
        self.hook = hook

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        """Report round ``epoch + 1``; never asks XGBoost itself to stop."""
        validation = evals_log["validation"]
        self.hook(
            epoch + 1,
            {
                "validation_auc": float(validation["auc"][-1]),
                "validation_loss": float(validation["logloss"][-1]),
            },
        )
        return False


def train(
    train_frame: pd.DataFrame,
    validation_frame: pd.DataFrame,
    columns: Sequence[str],
    settings: Mapping[str, Any],
    device: str = "cpu",
    threads: int = 1,
    seed: int = 0,
    on_step: StepHook | None = None,
) -> tuple[xgb.Booster, dict[str, Any]]:
    """Boost up to ``n_estimators`` trees, stopping when the validation log-loss has not
    improved for ``early_stopping_rounds``; return the booster cut at the best iteration
    and the per-iteration train/validation log-loss and AUC. With ``early_stopping: false``
    (the capacity studies) every tree is boosted and kept. ``on_step`` sees every round's
    validation metrics."""
    d_train = dmatrix(train_frame, columns, weights=True)
    d_val = dmatrix(validation_frame, columns, weights=True)
    history: dict[str, dict[str, list[float]]] = {}
    early = settings.get("early_stopping", True)
    booster = xgb.train(
        booster_params(settings, device, threads, seed),
        d_train,
        num_boost_round=settings["n_estimators"],
        evals=[(d_train, "train"), (d_val, "validation")],
        early_stopping_rounds=settings["early_stopping_rounds"] if early else None,
        evals_result=history,
        verbose_eval=50,  # progress in the rule's log every 50 rounds
        callbacks=[StepReport(on_step)] if on_step is not None else None,
    )
    best = booster.best_iteration if early else booster.num_boosted_rounds() - 1
    log.info("BDT: %d trees, best iteration %d", booster.num_boosted_rounds(), best)
    info = {
        "best_iteration": int(best),
        "n_trees_boosted": int(booster.num_boosted_rounds()),
        "history": {
            "train": history["train"]["logloss"],
            "validation": history["validation"]["logloss"],
        },
        "auc_history": {
            "train": history["train"]["auc"],
            "validation": history["validation"]["auc"],
        },
    }
    return (booster[: best + 1] if early else booster), info


def scores(booster: xgb.Booster, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The boosted log-odds (margin) of each event."""
    return booster.predict(dmatrix(frame, columns), output_margin=True)


def shap_values(
    booster: xgb.Booster, frame: pd.DataFrame, columns: Sequence[str], threads: int = 1
) -> tuple[np.ndarray, float]:
    """Exact TreeSHAP values of each event and feature (log-odds units) and the base value;
    per event, the base value plus the row's sum is the event's margin. ``threads`` is set
    on the booster (a loaded one would take every core); each event's values are its own,
    so they do not depend on it."""
    booster.set_param({"nthread": threads})
    contributions = booster.predict(dmatrix(frame, columns), pred_contribs=True)
    return contributions[:, :-1], float(contributions[0, -1])


class BdtTrainer(Trainer):
    """XGBoost with early stopping on the validation log-loss; its score is the margin
    (log-odds), its model saved as UBJSON and logged in the xgboost flavour."""

    artifact: ClassVar[str] = "model.ubj"
    balanced_classes: ClassVar[bool] = True
    has_shap: ClassVar[bool] = True

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """:func:`train` on the job's device and threads."""
        booster, info = train(
            splits["train"],
            splits["validation"],
            columns,
            settings,
            context.device,
            context.threads,
            context.seed,
            context.on_step,
        )
        curves = split_curves(info["history"], info["auc_history"])
        extra = {k: info[k] for k in ("best_iteration", "n_trees_boosted")}
        return Fitted(booster, curves, best_step=info["best_iteration"] + 1, info=extra)

    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The margin as ``score`` and its sigmoid as ``proba``."""
        return margin_frame(frame.index, scores(fitted.model, frame, columns))

    def probabilities(
        self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]
    ) -> np.ndarray:
        """XGBoost's own signal probability (float32, as its logged model gives); the
        ``proba`` of :meth:`predict` is the float64 sigmoid of the margin."""
        return fitted.model.predict(dmatrix(frame, columns))

    def shap_values(
        self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str], threads: int = 1
    ) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP values (log-odds units) and the base value (:func:`shap_values`)."""
        return shap_values(fitted.model, frame, columns, threads)

    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """XGBoost's own format (UBJSON by the file's suffix)."""
        fitted.model.save_model(path)

    def load_model(self, path: str | os.PathLike[str], record: Mapping[str, Any]) -> xgb.Booster:
        """The saved booster."""
        return xgb.Booster(model_file=str(path))

    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """The xgboost flavour with a signature inferred from the example's margins."""
        from mlhep.tracking.models import log_xgboost

        return log_xgboost(fitted.model, example)


#: The trainers of this family by model name.
TRAINERS: dict[str, Trainer] = {"bdt": BdtTrainer()}
