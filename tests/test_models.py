"""The model registry and the one training path: every registered model trains through
``mlhep.models.training.train`` on real (small) dimuon splits, with a real MLflow store,
and leaves the same kind of outputs: a model directory, predictions of every split in one
layout, and a uniform record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlhep import io
from mlhep.config import validate_config
from mlhep.data import get_kind
from mlhep.features.splits import make_splits
from mlhep.generative.gan import GeneratorTrainer
from mlhep.models import MODELS, get_trainer
from mlhep.models.base import FitContext, Trainer, hyperparameters
from mlhep.models.training import PREDICTION_META, TrainingJob, train
from mlhep.tracking import RunSpec, create_store

# MLflow 3.17 compares an input example's columns with a range when it logs a model, which
# pandas 3.1 deprecates; nothing of ours (the workflow's logs show the same warning)
pytestmark = pytest.mark.filterwarnings(
    "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
)

FAST = {
    "bdt": {"n_estimators": 30, "early_stopping_rounds": 5},
    "ann": {"epochs": 4, "min_epochs": 4, "width": 16, "layers": 1, "batch_size": 64},
    "hist_gbdt": {"max_iter": 30},
    "autoencoder": {"epochs": 4},
}


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real dimuon splits, written as parquet files."""
    root = tmp_path_factory.mktemp("splits")
    kind = get_kind("dimuon")
    settings = {
        "n_signal": 1500,
        "n_background": 1500,
        "expected_signal": 10.0,
        "expected_background": 1000.0,
    }
    kind.produce(root / "events.root", settings, 5)
    parts, _ = make_splits(
        kind.build_features(root / "events.root"), {"train": 0.6, "validation": 0.2, "test": 0.2}, 5
    )
    paths = {}
    for name, part in parts.items():
        paths[name] = root / f"{name}.parquet"
        io.write_parquet(paths[name], part)
    return paths


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MLflow store with the dimuon experiment, and its record (as mlflow_init)."""
    root = tmp_path_factory.mktemp("store")
    record = root / "experiments.json"
    tracking = {"uri": None, "experiment_prefix": "test-"}
    record.write_text(json.dumps(create_store(tracking, ["dimuon"], root)))
    return record


def test_registry_names_a_trainer_for_every_model_and_config_section() -> None:
    config: dict = {}
    validate_config(config)
    assert set(MODELS) == set(config["models"])
    for name, entry in MODELS.items():
        expected = GeneratorTrainer if entry.kind == "generator" else Trainer
        assert isinstance(get_trainer(name), expected), name
    with pytest.raises(KeyError, match="unknown model 'svm'"):
        get_trainer("svm")


@pytest.mark.parametrize("name", [m for m, e in MODELS.items() if e.kind == "classifier"])
def test_every_model_goes_through_the_one_training_path(
    name: str, splits: dict[str, Path], store: Path, tmp_path: Path
) -> None:
    config: dict = {}
    validate_config(config)
    settings = {**hyperparameters(config["models"][name]), **FAST.get(name, {})}
    columns = list(get_kind("dimuon").feature_sets["high"])
    out = tmp_path / name
    job = TrainingJob(
        model=name,
        dataset="dimuon",
        features="high",
        columns=columns,
        settings=settings,
        context=FitContext(seed=3),
        model_dir=out / "model",
        predictions=out / "predictions.parquet",
        record=out / "train.json",
    )
    spec = RunSpec.for_job(store, "dimuon", "train", "workflow/scripts/train.py", settings)
    record = train(job, splits, spec)
    assert record == json.loads((out / "train.json").read_text())
    trainer = get_trainer(name)
    assert (out / "model" / record["model_file"]).is_file()
    assert record["model_file"] == trainer.artifact
    assert {
        "model",
        "kind",
        "features",
        "columns",
        "loss",
        "settings",
        "curves",
        "best_step",
        "step",
        "fit_seconds",
        "mlflow_run_id",
        "model_uri",
    } <= record.keys()
    assert record["step"] == MODELS[name].curves
    if record["step"]:
        assert len(record["curves"]["train_loss"]) >= 1
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert list(predictions.columns[:4]) == list(PREDICTION_META)
    assert predictions["split"].value_counts().to_dict() == {
        "train": 1800,
        "validation": 600,
        "test": 600,
    }
    assert np.isfinite(predictions["score"]).all()
    if "proba" in predictions:
        assert predictions["proba"].between(0, 1).all()
    # the scores rank: every model separates the resonance on the pair variables (the
    # autoencoder, which never sees a signal event, only by its unlikeness to background)
    test = predictions[predictions.split == "test"]
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test["label"], test["score"]) > (0.53 if name == "autoencoder" else 0.6)
    run = MlflowClient(json.loads(store.read_text())["tracking_uri"]).get_run(
        record["mlflow_run_id"]
    )
    assert run.data.tags["model"] == name and run.data.params["features"] == "high"
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {
        "dimuon-train",
        "dimuon-validation",
        "dimuon-test",
    }
