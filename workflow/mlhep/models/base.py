"""What every trainer provides, whatever its library: build from config settings, fit
(with the validation split for early stopping), predict (scores and probabilities), save,
load back and log the model in its MLflow flavour, and, where the family has them,
per-feature contributions (SHAP). The rest of training (reading splits, scoring every
split, the MLflow run, the training record, atomic outputs) is one path for all:
:mod:`mlhep.models.training`. Studies and scripts use this contract only (through
:func:`mlhep.models.get_trainer`), never a family's internals.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

#: Keys of a model's config section that are not hyper-parameters.
NON_HYPERPARAMETERS = ("activate", "threads")


def hyperparameters(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A model's config section less the bookkeeping keys."""
    return {k: v for k, v in settings.items() if k not in NON_HYPERPARAMETERS}


def features_of(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The model inputs: a feature set's columns as float64 (named, as models see them)."""
    return frame[list(columns)].astype(np.float64)


def split_curves(
    loss: Mapping[str, list[float]], auc: Mapping[str, list[float]]
) -> dict[str, list[float]]:
    """The per-step curves of a record from per-split loss and AUC histories
    (``{"train": [...], "validation": [...]}``): ``train_loss``, ..., ``validation_auc``."""
    return {
        **{f"{split}_loss": list(values) for split, values in loss.items()},
        **{f"{split}_auc": list(values) for split, values in auc.items()},
    }


#: The outputs of a pulse regressor: estimates of amplitude and arrival time, and their
#: predicted uncertainties (NaN where a method gives none).
REGRESSION_OUTPUTS = ("amplitude_hat", "t0_hat", "amplitude_sigma", "t0_sigma")


def regression_frame(index: pd.Index, outputs: np.ndarray) -> pd.DataFrame:
    """Regressor outputs (columns :data:`REGRESSION_OUTPUTS`) from an ``(n, 4)`` array."""
    return pd.DataFrame(
        np.asarray(outputs, dtype=np.float64), index=index, columns=list(REGRESSION_OUTPUTS)
    )


def margin_frame(index: pd.Index, score: np.ndarray) -> pd.DataFrame:
    """Classifier outputs from a log-odds score: ``score`` and ``proba`` = sigmoid(score)."""
    return pd.DataFrame({"score": score, "proba": 1.0 / (1.0 + np.exp(-score))}, index=index)


#: Called by a trainer with steps after each step (1-based: boosting round, epoch) with
#: that step's validation metrics (``validation_auc``, ``validation_loss``); it may raise to
#: end the fit (a tuning trial that its pruner stops).
StepHook = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True)
class FitContext:
    """Where and how a job trains: the seed, the resolved device, the job's threads, for a
    regressor the physics of its dataset (the readout the classical estimators know:
    shape, sampling, noise), and who watches each training step (``on_step``: the tuning
    stage's pruner; trainers without steps never call it)."""

    seed: int
    device: str = "cpu"
    threads: int = 1
    physics: Mapping[str, Any] = field(default_factory=dict)
    on_step: StepHook | None = field(default=None, compare=False)


@dataclass
class Fitted:
    """A fitted model and what training learned beside it.

    ``curves`` are per-step series (``train_loss``, ``validation_loss``, ``train_auc``, ...);
    ``best_step`` is the 1-based step kept by early stopping (``None`` without steps);
    ``info`` holds family-specific facts (cross-checks, throughput) for the record.
    """

    model: Any
    curves: dict[str, list[float]] = field(default_factory=dict)
    best_step: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Trainer(ABC):
    """One model: how it is built, fitted, scored, saved, loaded and logged (its kind, GPU
    use and curve step are the registry's, :data:`mlhep.models.MODELS`)."""

    #: the model's own loss (``mlhep.evaluation.classification.model_loss``)
    loss: ClassVar[str] = "bce"
    #: the file name of the saved model inside the model directory
    artifact: ClassVar[str] = "model.joblib"
    #: trained with class-balanced weights: its probabilities are posteriors at prior 1:1
    balanced_classes: ClassVar[bool] = False
    #: gives exact per-feature contributions to its score (:meth:`shap_values`)
    has_shap: ClassVar[bool] = False

    @abstractmethod
    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Fit on ``splits["train"]`` with ``context.seed``; ``splits["validation"]`` may
        steer early stopping, and the fitted model's ``curves`` hold the per-step losses
        (and AUCs) there. A model with steps trains every step and keeps the last when
        ``settings`` has ``early_stopping: false`` (the generalization studies)."""

    @abstractmethod
    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The model's outputs for each row of ``frame`` (for a classifier: ``score`` and,
        for probabilistic models, ``proba``), in row order."""

    def probabilities(
        self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]
    ) -> np.ndarray:
        """The signal probability of each row of ``frame`` (``proba`` of :meth:`predict`);
        ``ValueError`` for a model without probabilities."""
        outputs = self.predict(fitted, frame, columns)
        if "proba" not in outputs:
            raise ValueError(f"{type(self).__name__} gives no probabilities")
        return outputs["proba"].to_numpy()

    def classifier(self, fitted: Fitted, columns: Sequence[str]) -> Any:
        """The fitted model as a scikit-learn classifier over ``columns`` (for its tools:
        permutation importance), already fitted."""
        from mlhep.models.estimator import FittedClassifier

        return FittedClassifier(self, fitted, columns).fit(None, None)

    def shap_values(
        self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str], threads: int = 1
    ) -> tuple[np.ndarray, float]:
        """Each row's per-feature contributions to its score (SHAP values, ``(n, features)``)
        and the base value: the base plus a row's sum is its score (computed on ``threads``
        threads). Only for a family with :attr:`has_shap`; ``NotImplementedError``
        otherwise."""
        raise NotImplementedError(f"{type(self).__name__} has no per-feature contributions")

    @abstractmethod
    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (a temporary name the caller renames into place)."""

    @abstractmethod
    def load_model(self, path: str | os.PathLike[str], record: Mapping[str, Any]) -> Any:
        """The model :meth:`save` wrote to ``path``, rebuilt (where it must be) from its
        training record's ``columns`` and ``settings``; ready to predict, on the CPU."""

    def load_fitted(self, model_dir: str | os.PathLike[str], record: Mapping[str, Any]) -> Fitted:
        """A trained model from its model directory and its training record
        (``train.json``: the model file's name, the columns and settings, the curves and
        the kept step)."""
        model = self.load_model(Path(model_dir) / record.get("model_file", self.artifact), record)
        return Fitted(model, dict(record.get("curves") or {}), record.get("best_step"))

    @abstractmethod
    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """Log the model to the active MLflow run in its own flavour; return its URI."""


def resolve_device(setting: str, gpu_capable: bool) -> str:
    """The device a model trains on: ``cpu`` for models that cannot use a GPU; for the
    others ``auto`` means CUDA where torch sees it, and ``cuda`` fails clearly without one."""
    if not gpu_capable or setting == "cpu":
        return "cpu"
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise RuntimeError("config key 'device' is 'cuda' but torch sees no CUDA device")
    return setting
