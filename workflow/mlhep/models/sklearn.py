"""The classifier registry: which models exist, what family trains them and what loss
judges them; and the scikit-learn family (the linear models and the single decision
tree): build, fit on a feature set's training split, score every split. Inputs are
standardised with statistics of the training split only (a scaler inside the pipeline;
the tree, whose cuts should stay readable in physical units, takes raw inputs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlhep.models.linear import GradientDescentLinear, Perceptron, normal_equations
from mlhep.features.splits import SPLIT_NAMES


@dataclass(frozen=True)
class ModelSpec:
    """How a model is built and what it is judged by."""

    loss: str  # the model's own loss: bce, mse or zero_one (mlhep.evaluation.model_loss)
    probabilistic: bool  # has predict_proba
    family: str  # the rule that trains it: sklearn, xgboost or torch


#: Every trained classifier by config name (``models.<name>``); the Bayes limit is apart.
CLASSIFIERS: dict[str, ModelSpec] = {
    "perceptron": ModelSpec("zero_one", False, "sklearn"),
    "logistic": ModelSpec("bce", True, "sklearn"),
    "fisher": ModelSpec("bce", True, "sklearn"),
    "linear_mse": ModelSpec("mse", False, "sklearn"),
    "linear_bce": ModelSpec("bce", True, "sklearn"),
    "decision_tree": ModelSpec("bce", True, "sklearn"),
    "bdt": ModelSpec("bce", True, "xgboost"),
    "ann": ModelSpec("bce", True, "torch"),
}
SKLEARN_MODELS = tuple(name for name, spec in CLASSIFIERS.items() if spec.family == "sklearn")
#: Keys of a model's config section that are not hyper-parameters.
NON_HYPERPARAMETERS = ("activate", "feature_sets", "threads")


def features_of(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The model inputs: a feature set's columns as float64 (named, as models see them)."""
    return frame[list(columns)].astype(np.float64)


def hyperparameters(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A model's config section less the bookkeeping keys."""
    return {k: v for k, v in settings.items() if k not in NON_HYPERPARAMETERS}


def build(name: str, settings: Mapping[str, Any], seed: int) -> Pipeline:
    """A fresh pipeline (scaler, classifier) for model ``name`` with its config settings."""
    hp = hyperparameters(settings)
    if name == "perceptron":
        clf: Any = Perceptron(hp["learning_rate"], hp["epochs"], hp["init"], seed, hp["pocket"])
    elif name == "logistic":
        clf = LogisticRegression(C=hp["C"], max_iter=hp["max_iter"], tol=1e-8)
    elif name == "fisher":
        clf = LinearDiscriminantAnalysis(solver="svd")
    elif name in ("linear_mse", "linear_bce"):
        clf = GradientDescentLinear(
            name.removeprefix("linear_"), hp["learning_rate"], hp["epochs"], seed
        )
    elif name == "decision_tree":
        tree = DecisionTreeClassifier(
            max_depth=hp["max_depth"], min_samples_leaf=hp["min_samples_leaf"], random_state=seed
        )
        return Pipeline([("model", tree)])
    else:
        raise KeyError(f"unknown scikit-learn model {name!r}; known: {SKLEARN_MODELS}")
    return Pipeline([("scale", StandardScaler()), ("model", clf)])


def fit(
    pipeline: Pipeline, name: str, splits: Mapping[str, pd.DataFrame], columns: Sequence[str]
) -> dict[str, Any]:
    """Train on the training split; return what training learned beyond the model (the
    loss per epoch, errors per epoch, the normal-equation cross-check)."""
    x = features_of(splits["train"], columns)
    y = splits["train"]["label"].to_numpy()
    info: dict[str, Any] = {}
    if name in ("linear_mse", "linear_bce"):
        scaler = pipeline.named_steps["scale"].fit(x)
        x_val = scaler.transform(features_of(splits["validation"], columns))
        pipeline.named_steps["model"].fit(
            scaler.transform(x), y, x_val, splits["validation"]["label"].to_numpy()
        )
        model = pipeline.named_steps["model"]
        info["history"] = model.history_
        if name == "linear_mse":
            exact = normal_equations(scaler.transform(x), y.astype(float))
            info["normal_equation_weights"] = exact.tolist()
            info["gd_vs_normal_equation_rel_diff"] = float(
                np.linalg.norm(model.weights_ - exact) / np.linalg.norm(exact)
            )
    else:
        pipeline.fit(x, y)
    if name == "perceptron":
        info["errors_per_epoch"] = pipeline.named_steps["model"].errors_
        info["training_errors_per_epoch"] = pipeline.named_steps["model"].training_errors_
    return info


def predict(
    pipeline: Pipeline, name: str, splits: Mapping[str, pd.DataFrame], columns: Sequence[str]
) -> pd.DataFrame:
    """Scores of every split: ``score`` (the linear score w . x, the log-odds, or a tree
    leaf's signal fraction), and ``proba`` (signal probability) for probabilistic models."""
    parts = []
    for split in SPLIT_NAMES:
        frame = splits[split]
        x = features_of(frame, columns)
        part = frame[["event_id", "label", "weight"]].copy()
        part.insert(0, "split", split)
        proba = pipeline.predict_proba(x)[:, 1] if CLASSIFIERS[name].probabilistic else None
        if hasattr(pipeline, "decision_function"):
            part["score"] = pipeline.decision_function(x)
        else:  # a tree: its leaf purity is the score
            part["score"] = proba
        if proba is not None:
            part["proba"] = proba
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def prediction_frame(frame: pd.DataFrame, split: str, score: np.ndarray) -> pd.DataFrame:
    """Predictions of one split in the common layout: split, event_id, label, weight, score
    and ``proba`` = sigmoid(score) (for models whose score is a log-odds)."""
    part = frame[["event_id", "label", "weight"]].copy()
    part.insert(0, "split", split)
    part["score"] = score
    part["proba"] = 1.0 / (1.0 + np.exp(-score))
    return part
