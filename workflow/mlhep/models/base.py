"""What every trainer provides, whatever its library: build from config settings, fit
(with the validation split for early stopping), predict, save and log the model in its
MLflow flavour. The rest of training (reading splits, scoring every split, the MLflow run,
the training record, atomic outputs) is one path for all: :mod:`mlhep.models.training`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class FitContext:
    """Where and how a job trains: the seed, the resolved device, the job's threads and,
    for a regressor, the physics of its dataset (the readout the classical estimators
    know: shape, sampling, noise)."""

    seed: int
    device: str = "cpu"
    threads: int = 1
    physics: Mapping[str, Any] = field(default_factory=dict)


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
    """One model: how it is built, fitted, scored, saved and logged (its kind, GPU use and
    curve step are the registry's, :data:`mlhep.models.MODELS`)."""

    #: the model's own loss (``mlhep.evaluation.classification.model_loss``)
    loss: ClassVar[str] = "bce"
    #: the file name of the saved model inside the model directory
    artifact: ClassVar[str] = "model.joblib"
    #: trained with class-balanced weights: its probabilities are posteriors at prior 1:1
    balanced_classes: ClassVar[bool] = False

    @abstractmethod
    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Fit on ``splits["train"]``; ``splits["validation"]`` may steer early stopping."""

    @abstractmethod
    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The model's outputs for each row of ``frame`` (for a classifier: ``score`` and,
        for probabilistic models, ``proba``), in row order."""

    @abstractmethod
    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (a temporary name the caller renames into place)."""

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
