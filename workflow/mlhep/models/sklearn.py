"""The scikit-learn family: the linear models (the lecture's perceptron, logistic
regression, Fisher's discriminant, one linear model trained by gradient descent on the MSE
or the BCE), the single shallow decision tree, and histogram gradient boosting
(``HistGradientBoostingClassifier``, the baseline a user would pick instead of XGBoost).

Inputs are standardised with statistics of the training split only (a scaler inside the
pipeline); tree models, whose cuts should stay readable in physical units, take raw inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlhep.models.base import FitContext, Fitted, Trainer, features_of, hyperparameters
from mlhep.models.linear import GradientDescentLinear, Perceptron, normal_equations


class SklearnTrainer(Trainer):
    """A scikit-learn pipeline built by ``build(hyper-parameters, seed)``.

    ``probabilistic``: the model has ``predict_proba``; its score is ``decision_function``
    where there is one (the linear score w . x or the log-odds), else the signal probability
    (a tree leaf's purity).
    """

    artifact: ClassVar[str] = "model.joblib"

    def __init__(
        self,
        build: Callable[[Mapping[str, Any], int], Any],
        loss: str = "bce",
        probabilistic: bool = True,
        scaled: bool = True,
    ) -> None:
        self.build = build
        self.loss = loss  # type: ignore[misc]
        self.probabilistic = probabilistic
        self.scaled = scaled

    def pipeline(self, settings: Mapping[str, Any], seed: int) -> Pipeline:
        """A fresh pipeline (scaler where wanted, then the model) from config settings."""
        model = self.build(hyperparameters(settings), seed)
        steps = [("scale", StandardScaler())] if self.scaled else []
        return Pipeline([*steps, ("model", model)])

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Fit the pipeline on the training split."""
        pipeline = self.pipeline(settings, context.seed)
        pipeline.fit(features_of(splits["train"], columns), splits["train"]["label"].to_numpy())
        return Fitted(pipeline)

    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """``score`` and, for probabilistic models, ``proba`` of every row."""
        pipeline, x = fitted.model, features_of(frame, columns)
        out = pd.DataFrame(index=frame.index)
        proba = pipeline.predict_proba(x)[:, 1] if self.probabilistic else None
        out["score"] = pipeline.decision_function(x) if _has_decision(pipeline) else proba
        if proba is not None:
            out["proba"] = proba
        return out

    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """Pickle the pipeline with joblib."""
        joblib.dump(fitted.model, path)

    def load_model(self, path: str | os.PathLike[str], record: Mapping[str, Any]) -> Pipeline:
        """The pickled pipeline."""
        return joblib.load(path)

    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """The sklearn flavour; its pyfunc predicts the signal probability (or the class)."""
        from mlhep.tracking.models import log_sklearn

        return log_sklearn(fitted.model, example, probabilistic=self.probabilistic)


def _has_decision(pipeline: Pipeline) -> bool:
    """Whether the pipeline's model has a decision function (trees have none)."""
    return hasattr(pipeline, "decision_function")


class PerceptronTrainer(SklearnTrainer):
    """The perceptron; records its updates and training errors per epoch."""

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Fit, then read the per-epoch counts off the model."""
        fitted = super().fit(splits, columns, settings, context)
        model = fitted.model.named_steps["model"]
        fitted.curves = {"train_updates": model.errors_, "train_errors": model.training_errors_}
        fitted.info = {
            "errors_per_epoch": model.errors_,
            "training_errors_per_epoch": model.training_errors_,
        }
        return fitted


class GradientDescentTrainer(SklearnTrainer):
    """A linear model by gradient descent on the MSE or the BCE; the loss per epoch on the
    training and validation splits; the MSE solution checked against the normal equations."""

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Scale with training statistics, then descend with the validation loss recorded."""
        pipeline = self.pipeline(settings, context.seed)
        x = features_of(splits["train"], columns)
        y = splits["train"]["label"].to_numpy()
        scaler = pipeline.named_steps["scale"].fit(x)
        x_val = scaler.transform(features_of(splits["validation"], columns))
        model = pipeline.named_steps["model"]
        model.fit(scaler.transform(x), y, x_val, splits["validation"]["label"].to_numpy())
        info: dict[str, Any] = {}
        if self.loss == "mse":
            exact = normal_equations(scaler.transform(x), y.astype(float))
            info["normal_equation_weights"] = exact.tolist()
            info["gd_vs_normal_equation_rel_diff"] = float(
                np.linalg.norm(model.weights_ - exact) / np.linalg.norm(exact)
            )
        curves = {f"{split}_loss": values for split, values in model.history_.items()}
        return Fitted(pipeline, curves=curves, info=info)


class HistGradientBoostingTrainer(SklearnTrainer):
    """Histogram gradient boosting with early stopping on the validation split; the log-loss
    per iteration on the training and validation splits."""

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Boost until the validation loss stops improving for ``n_iter_no_change`` rounds."""
        pipeline = self.pipeline(settings, context.seed)
        model = pipeline.named_steps["model"]
        model.fit(
            features_of(splits["train"], columns),
            splits["train"]["label"].to_numpy(),
            X_val=features_of(splits["validation"], columns),
            y_val=splits["validation"]["label"].to_numpy(),
        )
        # scikit-learn records the negative loss per iteration, the first before any tree
        curves = {
            "train_loss": [-v for v in model.train_score_[1:]],
            "validation_loss": [-v for v in model.validation_score_[1:]],
        }
        best = int(np.argmax(model.validation_score_[1:])) + 1
        return Fitted(pipeline, curves=curves, best_step=best, info={"n_iter": model.n_iter_})


def _hist_gbdt(hp: Mapping[str, Any], seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=hp["learning_rate"],
        max_iter=hp["max_iter"],
        max_leaf_nodes=hp["max_leaf_nodes"],
        max_depth=hp["max_depth"],
        min_samples_leaf=hp["min_samples_leaf"],
        l2_regularization=hp["l2_regularization"],
        max_bins=hp["max_bins"],
        early_stopping=True,
        scoring="loss",
        n_iter_no_change=hp["n_iter_no_change"],
        random_state=seed,
    )


#: The trainers of this family by model name (see :data:`mlhep.models.MODELS`).
TRAINERS: dict[str, Trainer] = {
    "perceptron": PerceptronTrainer(
        lambda hp, seed: Perceptron(
            hp["learning_rate"], hp["epochs"], hp["init"], seed, hp["pocket"]
        ),
        loss="zero_one",
        probabilistic=False,
    ),
    "logistic": SklearnTrainer(
        lambda hp, seed: LogisticRegression(C=hp["C"], max_iter=hp["max_iter"], tol=1e-8)
    ),
    "fisher": SklearnTrainer(lambda hp, seed: LinearDiscriminantAnalysis(solver="svd")),
    "linear_mse": GradientDescentTrainer(
        lambda hp, seed: GradientDescentLinear("mse", hp["learning_rate"], hp["epochs"], seed),
        loss="mse",
        probabilistic=False,
    ),
    "linear_bce": GradientDescentTrainer(
        lambda hp, seed: GradientDescentLinear("bce", hp["learning_rate"], hp["epochs"], seed)
    ),
    "decision_tree": SklearnTrainer(
        lambda hp, seed: DecisionTreeClassifier(
            max_depth=hp["max_depth"], min_samples_leaf=hp["min_samples_leaf"], random_state=seed
        ),
        scaled=False,
    ),
    "hist_gbdt": HistGradientBoostingTrainer(_hist_gbdt, scaled=False),
}
