"""A fitted model of any classifier family behind scikit-learn's classifier interface, for
scikit-learn's tools (permutation importance) without reaching into the family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

if TYPE_CHECKING:
    from mlhep.models.base import Fitted, Trainer


class FittedClassifier(ClassifierMixin, BaseEstimator):
    """``decision_function`` is the trainer's ``score``, ``predict_proba`` its probability;
    inputs are the model's ``columns`` (a frame, or an array in that order)."""

    def __init__(self, trainer: Trainer, fitted: Fitted, columns: Sequence[str]) -> None:
        self.trainer = trainer
        self.fitted = fitted
        self.columns = columns

    def fit(self, x: Any, y: Any) -> FittedClassifier:
        """Already trained: only records the classes."""
        self.classes_ = np.array([0, 1])
        return self

    def _frame(self, x: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        return x if isinstance(x, pd.DataFrame) else pd.DataFrame(x, columns=list(self.columns))

    def decision_function(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's score (log-odds, logit, or its own score)."""
        return self.trainer.predict(self.fitted, self._frame(x), self.columns)["score"].to_numpy()

    def predict_proba(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Background and signal probability as two columns."""
        p = self.trainer.probabilities(self.fitted, self._frame(x), self.columns)
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """1 where the score is positive."""
        return (self.decision_function(x) > 0).astype(np.int64)
