"""Sweep points on the dimuon data: the capacity of the BDT (depth x trees) and of the MLP
(width x depth), the MLP's regularisation (weight decay, dropout) and an over-sized MLP
trained without early stopping, learning curves of a linear model, the BDT and the MLP,
and double descent with random ReLU features. Each point trains on a seeded subsample of
the training split, is scored on the full validation and test splits, and reports the KS
overtraining statistic (train against test scores, per class, as TMVA does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from mlhep.evaluation.classification import ks_overtraining
from mlhep.models.base import FitContext
from mlhep.studies.generalization.double_descent import random_feature_fit

SPLITS = ("train", "validation", "test")


def subsample(frame: pd.DataFrame, n: int, seed: int, key: str) -> pd.DataFrame:
    """``n`` rows drawn without replacement (seeded), in their original order; a clear
    error naming the config ``key`` if the split has fewer."""
    if n > len(frame):
        raise ValueError(
            f"config key {key!r}: {n} training events asked for, the training split has "
            f"{len(frame)} (raise the dataset's n_signal/n_background or lower the grid)"
        )
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), n, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def classifier_metrics(
    labels: Mapping[str, np.ndarray],
    scores: Mapping[str, np.ndarray],
    probabilities: Mapping[str, np.ndarray],
) -> dict[str, float]:
    """AUC and log-loss on every split, the generalization gaps (train - test AUC, test -
    train loss) and the KS statistic of train against test scores per class. A model
    without probabilities (the perceptron; empty ``probabilities``) has no log-loss (NaN)."""
    out: dict[str, float] = {}
    for split in labels:
        out[f"{split}_auc"] = float(roc_auc_score(labels[split], scores[split]))
        if split in probabilities:
            p = np.clip(probabilities[split], 1e-7, 1 - 1e-7)
            out[f"{split}_loss"] = float(log_loss(labels[split], p, labels=[0, 1]))
        else:
            out[f"{split}_loss"] = float("nan")
    out["auc_gap"] = out["train_auc"] - out["test_auc"]
    out["loss_gap"] = out["test_loss"] - out["train_loss"]
    for cls, name in ((1, "signal"), (0, "background")):
        ks = ks_overtraining(
            scores["train"][labels["train"] == cls], scores["test"][labels["test"] == cls]
        )
        out[f"ks_{name}"], out[f"ks_p_{name}"] = ks["statistic"], ks["p"]
    return out


def _labels(splits: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    return {s: splits[s]["label"].to_numpy() for s in SPLITS}


def _n_train_key(settings: Mapping[str, Any]) -> str:
    """The config key of a study's training-set size (for error messages)."""
    return f"studies.generalization.{settings['study']}.n_train"


def _train_split(
    splits: Mapping[str, pd.DataFrame], settings: Mapping[str, Any], n: int, seed: int
) -> dict[str, pd.DataFrame]:
    """The splits with the training split cut to ``n`` seeded events."""
    return {**splits, "train": subsample(splits["train"], n, seed, _n_train_key(settings))}


def bdt_capacity(
    settings: Mapping[str, Any],
    point: Mapping[str, Any],
    splits: Mapping[str, pd.DataFrame],
    context: FitContext,
) -> dict[str, Any]:
    """XGBoost with exactly ``n_estimators`` trees of depth ``max_depth`` (no early
    stopping: capacity is the swept variable), the other settings those of ``models.bdt``."""
    from mlhep.models import get_trainer

    data = _train_split(splits, settings, settings["n_train"], context.seed)
    swept = {k: point[k] for k in ("max_depth", "n_estimators")}
    hp = {**settings["model"], **swept, "early_stopping": False}
    trainer = get_trainer("bdt")
    start = time.perf_counter()
    fitted = trainer.fit(data, settings["columns"], hp, context)
    seconds = time.perf_counter() - start
    outputs = {s: trainer.predict(fitted, data[s], settings["columns"]) for s in SPLITS}
    scores = {s: o["score"].to_numpy() for s, o in outputs.items()}
    proba = {s: o["proba"].to_numpy() for s, o in outputs.items()}
    return {
        **classifier_metrics(_labels(data), scores, proba),
        "train_seconds": seconds,
        "curves": {k: fitted.curves[k] for k in ("train_loss", "validation_loss")},
    }


def ann_settings(settings: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """The MLP's settings at a point: ``models.ann``, then the study's overrides, then the
    point's values. ``early_stopping: false`` trains every epoch and keeps the last."""
    keys = ("width", "layers", "epochs", "batch_size", "learning_rate", "weight_decay", "dropout")
    merged = dict(settings["model"])
    merged.update({k: settings[k] for k in keys if k in settings})
    merged.update({k: point[k] for k in keys if k in point})
    merged["early_stopping"] = bool(settings.get("early_stopping", True))
    merged["min_epochs"] = min(merged["min_epochs"], merged["epochs"])
    return merged


def ann_point(
    settings: Mapping[str, Any],
    point: Mapping[str, Any],
    splits: Mapping[str, pd.DataFrame],
    context: FitContext,
) -> dict[str, Any]:
    """One MLP at a point of a capacity or regularisation sweep, with its per-epoch train
    (evaluation mode) and validation losses."""
    from mlhep.models import get_trainer

    n_train = point.get("n_train", settings.get("n_train"))
    data = _train_split(splits, settings, n_train, context.seed)
    hp = ann_settings(settings, point)
    trainer = get_trainer("ann")
    fitted = trainer.fit(data, settings["columns"], hp, context)
    outputs = {s: trainer.predict(fitted, data[s], settings["columns"]) for s in SPLITS}
    scores = {s: o["score"].to_numpy() for s, o in outputs.items()}
    proba = {s: o["proba"].to_numpy() for s, o in outputs.items()}
    curves = fitted.curves
    return {
        **classifier_metrics(_labels(data), scores, proba),
        "best_epoch": fitted.info["best_epoch"],
        "epochs_run": fitted.info["epochs_run"],
        "steps_per_epoch": math.ceil(n_train / hp["batch_size"]),
        "parameters": fitted.info["parameters"],
        "train_seconds": fitted.info["train_seconds"],
        "device": context.device,
        "curves": {
            # the training loss in evaluation mode (no dropout), comparable with validation
            "train_loss": curves["train_eval_loss"],
            "validation_loss": curves["validation_loss"],
            "train_auc": curves["train_auc"],
            "validation_auc": curves["validation_auc"],
        },
    }


def learning_curve_point(
    settings: Mapping[str, Any],
    point: Mapping[str, Any],
    splits: Mapping[str, pd.DataFrame],
    context: FitContext,
) -> dict[str, Any]:
    """One model (``point["model"]``, its ``models.<name>`` settings, its own early stopping)
    trained on ``point["n_train"]`` events. The MLP trains for at least ``min_steps``
    optimiser steps (its best validation epoch kept), so that a small training set is not
    also an undertrained network; on fewer than ten batches of events its batch shrinks to
    a tenth of the set, so that an epoch is at least ten steps."""
    from mlhep.models import MODELS, get_trainer

    model, n_train = point["model"], point["n_train"]
    data = _train_split(splits, settings, n_train, context.seed)
    hp = dict(settings["model"])
    steps_per_epoch = None
    if model == "ann":
        hp["batch_size"] = max(1, min(hp["batch_size"], n_train // 10))
        steps_per_epoch = math.ceil(n_train / hp["batch_size"])
        hp["epochs"] = max(hp["epochs"], math.ceil(settings["min_steps"] / steps_per_epoch))
        hp["min_epochs"] = hp["epochs"]  # keep the best validation epoch, never stop early
    device = context.device if MODELS[model].gpu else "cpu"
    trainer = get_trainer(model)
    start = time.perf_counter()
    fitted = trainer.fit(
        data, settings["columns"], hp, FitContext(context.seed, device, context.threads)
    )
    seconds = time.perf_counter() - start
    outputs = {s: trainer.predict(fitted, data[s], settings["columns"]) for s in SPLITS}
    scores = {s: o["score"].to_numpy() for s, o in outputs.items()}
    proba = {s: o["proba"].to_numpy() for s, o in outputs.items() if "proba" in o}
    result: dict[str, Any] = {
        **classifier_metrics(_labels(data), scores, proba),
        "train_seconds": seconds,
        "best_step": fitted.best_step,
        "device": device,
    }
    if steps_per_epoch is not None:
        result["steps_per_epoch"] = steps_per_epoch
        result["optimiser_steps"] = steps_per_epoch * (fitted.best_step or 0)
        result["curves"] = {k: fitted.curves[k] for k in ("validation_auc", "validation_loss")}
    return result


def random_features_point(
    settings: Mapping[str, Any],
    point: Mapping[str, Any],
    splits: Mapping[str, pd.DataFrame],
    context: FitContext,
) -> dict[str, Any]:
    """Least squares of the label on p = ratio x n random ReLU features of the inputs,
    averaged over ``repeats`` draws of the features and of the training subsample; the
    ridge penalty of smallest validation MSE beside the minimum-norm fit."""
    columns: Sequence[str] = settings["columns"]
    n = settings["n_train"]
    p = max(1, round(point["ratio"] * n))
    penalties = np.asarray(settings["ridge_penalties"], dtype=float)
    held = {
        s: subsample(splits[s], min(settings["n_evaluate"], len(splits[s])), context.seed, s)
        for s in ("validation", "test")
    }
    evaluate = {
        s: (f[list(columns)].to_numpy(float), f["label"].to_numpy(float)) for s, f in held.items()
    }
    draws = []
    for k in range(settings["repeats"]):
        train = subsample(splits["train"], n, context.seed + k, _n_train_key(settings))
        draws.append(
            random_feature_fit(
                (train[list(columns)].to_numpy(float), train["label"].to_numpy(float)),
                evaluate,
                p,
                context.seed + 1000 + k,
                penalties,
            )
        )
    mean = {k: float(np.mean([d[k] for d in draws])) for k in draws[0] if "/" in k}
    ridge = [f"ridge_{lam:g}" for lam in penalties]
    best = min(ridge, key=lambda fit: mean[f"{fit}/validation_mse"]) if ridge else None
    out: dict[str, Any] = {"n": n, "p": p, "ratio": p / n, "repeats": settings["repeats"]}
    for split in ("train", "validation", "test"):
        for metric in ("mse", "auc"):
            values = [d[f"minimum_norm/{split}_{metric}"] for d in draws]
            out[f"{split}_{metric}"] = float(np.mean(values))
            out[f"{split}_{metric}_error"] = (
                float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
            )
            if best is not None:
                out[f"ridge_{split}_{metric}"] = mean[f"{best}/{split}_{metric}"]
    out["ridge_penalty"] = float(best.removeprefix("ridge_")) if best else None
    return out
