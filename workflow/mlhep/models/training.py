"""The one training path every model goes through: read the splits, fit (validation for
early stopping), predict every split, open an MLflow run in the dataset's experiment (its
parameters, curves, datasets and the model in its own flavour), and write the model, the
predictions and a uniform training record atomically.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlhep import io
from mlhep.evaluation.calibration import prior_log_odds
from mlhep.features.splits import SPLIT_NAMES
from mlhep.models import MODELS, get_trainer
from mlhep.models.base import FitContext, Fitted, Trainer, features_of, hyperparameters

log = logging.getLogger(__name__)

#: Bookkeeping columns that precede a model's outputs in its predictions file.
PREDICTION_META = ("split", "event_id", "label", "weight")


@dataclass(frozen=True)
class TrainingJob:
    """What one training job is: the model, the data, and where results go."""

    model: str
    dataset: str
    features: str
    columns: Sequence[str]
    settings: Mapping[str, Any]
    context: FitContext
    model_dir: str | os.PathLike[str]
    predictions: str | os.PathLike[str]
    record: str | os.PathLike[str]


def prediction_frame(
    trainer: Trainer, fitted: Fitted, splits: Mapping[str, pd.DataFrame], columns: Sequence[str]
) -> pd.DataFrame:
    """Every split's rows with the model's outputs: split, event_id, label, weight, then
    the outputs (``score``, ``proba`` for a classifier; estimates and their uncertainties
    for a regressor)."""
    parts = []
    for split in SPLIT_NAMES:
        frame = splits[split]
        part = frame[list(PREDICTION_META[1:])].copy()
        part.insert(0, "split", split)
        outputs = trainer.predict(fitted, frame, columns)
        parts.append(pd.concat([part, outputs], axis=1))
    return pd.concat(parts, ignore_index=True)


def training_prior_log_odds(trainer: Trainer, train: pd.DataFrame) -> float:
    """The prior log-odds log(n_S / n_B) a classifier's probabilities are posteriors at:
    that of the training split, or 0 for a trainer that balances the classes."""
    return 0.0 if trainer.balanced_classes else prior_log_odds(train["label"].to_numpy())


def record_prior_log_odds(record: Mapping[str, Any], predictions: pd.DataFrame) -> float:
    """The prior of a trained model's probabilities: its record's, or, for a record written
    before records carried it, recomputed from the training rows of its predictions."""
    if "prior_log_odds" in record:
        return float(record["prior_log_odds"])
    train = predictions[predictions["split"] == "train"]
    return training_prior_log_odds(get_trainer(record["model"]), train)


def training_record(
    job: TrainingJob,
    trainer: Trainer,
    fitted: Fitted,
    fit_seconds: float,
    run: Any,
    model_uri: str,
    prior_log_odds: float | None,
) -> dict[str, Any]:
    """The uniform record of a training: what was trained on what, the curves per step and
    the kept step, timing, the prior its probabilities refer to, the MLflow run and model,
    and family-specific facts."""
    entry = MODELS[job.model]
    return {
        "model": job.model,
        "kind": entry.kind,
        "dataset": job.dataset,
        "features": job.features,
        "columns": list(job.columns),
        "loss": trainer.loss,
        "settings": dict(job.settings),
        "seed": job.context.seed,
        "device": job.context.device,
        "fit_seconds": fit_seconds,
        "step": entry.curves,
        "curves": fitted.curves,
        "best_step": fitted.best_step,
        "model_file": trainer.artifact,
        "mlflow_run_id": run.info.run_id if run is not None else None,
        "model_uri": model_uri,
        "prior_log_odds": prior_log_odds,
        **fitted.info,
    }


def _write_model_dir(trainer: Trainer, fitted: Fitted, target: str | os.PathLike[str]) -> None:
    """Save the model into a fresh directory beside ``target`` and rename it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        trainer.save(fitted, tmp / trainer.artifact)
        os.chmod(tmp, 0o777 & ~io.current_umask())
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def train(
    job: TrainingJob,
    split_paths: Mapping[str, str | os.PathLike[str]],
    tracking: Any = None,
    tags: Mapping[str, str] | None = None,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Train ``job.model`` on the splits at ``split_paths``; log to MLflow through
    ``tracking`` (a :class:`mlhep.tracking.RunSpec`, or ``None`` for no run; ``tags`` added
    to the run's, e.g. its parent run; ``run_name`` instead of ``<model>-<features>``);
    return the training record (also written to ``job.record``)."""
    trainer = get_trainer(job.model)
    splits = {s: pd.read_parquet(split_paths[s]) for s in SPLIT_NAMES}
    start = time.perf_counter()
    fitted = trainer.fit(splits, job.columns, job.settings, job.context)
    fit_seconds = time.perf_counter() - start
    log.info("%s on %s/%s trained in %.2f s", job.model, job.dataset, job.features, fit_seconds)
    predictions = prediction_frame(trainer, fitted, splits, job.columns)
    run, model_uri = None, ""
    if tracking is not None:
        from mlhep import tracking as mltracking

        params = {
            **hyperparameters(job.settings),
            "model": job.model,
            "features": job.features,
            "device": job.context.device,
            "seed": job.context.seed,
            "n_train": len(splits["train"]),
            "columns": ",".join(job.columns),
        }
        with mltracking.start_run(
            tracking,
            run_name or f"{job.model}-{job.features}",
            tags={
                "model": job.model,
                "features": job.features,
                "kind": MODELS[job.model].kind,
                **(tags or {}),
            },
        ) as run:
            mltracking.log_params(params)
            mltracking.log_splits(splits, split_paths, job.dataset, job.columns)
            metrics = {"fit_seconds": fit_seconds}
            if fitted.best_step is not None:
                metrics["best_step"] = fitted.best_step
            mltracking.mlflow_module().log_metrics(metrics)
            mltracking.log_curves(fitted.curves)
            model_uri = trainer.log_model(fitted, features_of(splits["train"].head(5), job.columns))
    classifier = MODELS[job.model].kind == "classifier"
    prior = training_prior_log_odds(trainer, splits["train"]) if classifier else None
    record = training_record(job, trainer, fitted, fit_seconds, run, model_uri, prior)
    _write_model_dir(trainer, fitted, job.model_dir)
    io.write_parquet(job.predictions, predictions)
    io.write_json(job.record, record)
    return record
