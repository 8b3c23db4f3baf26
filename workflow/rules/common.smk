"""Validation of the config and the input functions shared by the rules: thin calls into
mlhep.plan, where what a config means is computed (and unit-tested)."""

import json
import os
import time
import uuid
from pathlib import Path

from mlhep.config import validate_config
from mlhep.models import MODELS
from mlhep.models.base import hyperparameters
from mlhep.plan import MLFLOW_READY, SPLITS, Plan, canonical, manifest_files
from mlhep.tracking import INVOCATION_ENV

# Stops the run before any job starts, naming every offending key.
validate_config(config)
PLAN = Plan(config)
DATASETS = PLAN.datasets
# Every MLflow run of this invocation carries its id (jobs inherit the environment, also
# through sbatch); a cluster job's own Snakemake keeps the id it inherited.
os.environ.setdefault(INVOCATION_ENV, f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}")
# GPU-capable rules request one GPU (resource `gpu`: sbatch --gpus=1 under the SLURM
# executor plugin) only when the config switches it on; local runs stay unchanged.
GPU_REQUEST = 1 if config["cluster"]["request_gpu"] else 0
GPU_MODELS = PLAN.gpu_models()
CPU_MODELS = [m for m in MODELS if m not in GPU_MODELS]
FEATURE_SETS = sorted({f for d in DATASETS for f in PLAN.feature_sets(d)})


wildcard_constraints:
    dataset="|".join(DATASETS) or "no-dataset",
    split="|".join(SPLITS),
    features="|".join(FEATURE_SETS) or "no-features",


def dataset_settings(wildcards):
    """A dataset's kind and its kind's own keys (not its feature sets, limits or models,
    which do not change the events)."""
    settings = config["datasets"][wildcards.dataset]
    return canonical({k: v for k, v in settings.items() if k in ("kind", *kind_keys(wildcards))})


def dataset_inputs(wildcards):
    """The files a dataset's plug-in reads (a root dataset's ntuples; none for the toys)."""
    kind = PLAN.kind(wildcards.dataset)
    return kind.inputs(config["datasets"][wildcards.dataset]) if kind.inputs else []


def dataset_seed(wildcards):
    """The seed of a dataset's producer; none for a kind that draws nothing (the user's
    ntuples: a new seed must not re-read them)."""
    return config["seed"] if PLAN.kind(wildcards.dataset).seeded else None


def dataset_columns(wildcards):
    """Every feature column of the job's dataset (a root dataset's follow its config)."""
    return list(PLAN.kind(wildcards.dataset).columns_for(config["datasets"][wildcards.dataset]))


def dataset_kind(wildcards):
    """The plug-in kind of the job's dataset."""
    return config["datasets"][wildcards.dataset]["kind"]


def columns_of(wildcards):
    """The columns of the job's feature set."""
    return PLAN.columns(wildcards.dataset, wildcards.features)


def kind_keys(wildcards):
    """The config keys of the job's dataset kind (its plug-in's settings schema)."""
    return list(PLAN.kind(wildcards.dataset).settings_schema)


def model_settings(wildcards):
    """The job's model section less what does not change results (activate, threads)."""
    return canonical(hyperparameters(config["models"][wildcards.model]))


def model_threads(wildcards):
    """Threads of a training job: the model's `threads` key where it has one."""
    return config["models"][wildcards.model].get("threads", 1)


def regressor_physics(wildcards):
    """What a regressor knows of its dataset (the readout: shape, sampling, noise, pile-up
    crossings); nothing for a classifier."""
    if MODELS[wildcards.model].kind != "regressor":
        return {}
    return dataset_settings(wildcards)


def classifier_evaluation():
    """The evaluation settings of a classifier (not the regressors' part)."""
    return canonical({k: v for k, v in config["evaluation"].items() if k != "regression"})


def regression_predictions(wildcards):
    """Predictions of every regressor trained on a regression dataset, by model label."""
    return {
        label: f"{Plan.model_dir(wildcards.dataset, m, f)}/predictions.parquet"
        for label, (m, f) in regression_methods(wildcards).items()
    }


def regression_records(wildcards):
    """Training records of every regressor trained on a regression dataset."""
    return [
        f"{Plan.model_dir(wildcards.dataset, m, f)}/train.json"
        for m, f in PLAN.trained(wildcards.dataset)
    ]


def regression_methods(wildcards):
    """Label -> (model, feature set) of the regressors of a dataset: the model's name, with
    the feature set where a model trains on several."""
    trained = PLAN.trained(wildcards.dataset)
    sets = {m: [f for n, f in trained if n == m] for m, _ in trained}
    return {(m if len(sets[m]) == 1 else f"{m} ({f})"): (m, f) for m, f in trained}


def device_of(wildcards):
    """The device setting a GPU-capable model trains with; `cpu` for the others."""
    return config["device"] if wildcards.model in GPU_MODELS else "cpu"


def split_files(wildcards):
    """The three splits of the job's dataset."""
    return {s: f"results/splits/{wildcards.dataset}/{s}.parquet" for s in SPLITS}


def predictions_of(wildcards):
    """Prediction files of every model trained on one feature set."""
    return [
        f"{Plan.model_dir(wildcards.dataset, m, wildcards.features)}/predictions.parquet"
        for m in PLAN.models_on(wildcards.dataset, wildcards.features)
    ]


def limit_sets(wildcards):
    """Feature sets (name -> columns) whose exact limit rule bayes_optimal computes."""
    sets = PLAN.feature_sets(wildcards.dataset)
    return canonical({f: sets[f] for f in PLAN.limit_sets(wildcards.dataset)})


def summary_metrics(wildcards):
    """Metrics files of every (dataset, model, feature set)."""
    return [
        f"results/evaluation/{d}/{m}/{f}/metrics.json"
        for d in PLAN.classification_datasets
        for m, f in PLAN.trained(d)
    ]


def summary_limits(wildcards):
    """Limit files of every dataset whose limit stage is on."""
    return [
        f"results/evaluation/{d}/bayes_optimal.json"
        for d in PLAN.classification_datasets
        if PLAN.limit_sets(d)
    ]


def close_unfinished_runs():
    """After a failed invocation: end its MLflow runs that a killed job left RUNNING."""
    from mlhep.tracking import close_unfinished_runs as close, invocation

    if os.path.exists(MLFLOW_READY):
        with open(MLFLOW_READY) as f:
            uri = json.load(f)["tracking_uri"]
        closed = close(uri, invocation())
        if closed:
            print(f"MLflow: ended {len(closed)} run(s) of killed jobs as KILLED: {closed}")
