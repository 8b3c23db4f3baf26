"""Validation of the config and the input functions shared by the rules: thin calls into
the core (mlhep.core) and the stages (mlhep.stages), where what a config means is computed
and unit-tested; every path comes from mlhep.paths."""

import os
import json
import time
import uuid
from pathlib import Path

from mlhep import paths
from mlhep.config import validate_config
from mlhep.core import SPLITS, canonical
from mlhep.models import MODELS, ModelKind
from mlhep.plan import Plan, manifest_files
from mlhep.scheduler import limit_rescheduling
from mlhep.stages.model_studies import ENSEMBLE_STUDIES, MODEL_STUDIES as STUDY_REGISTRY
from mlhep.tracking import INVOCATION_ENV
from mlhep import worker

# Stops the run before any job starts, naming every offending key.
validate_config(config)
# One pending re-scheduling timer, not one more per finished job (mlhep.scheduler).
limit_rescheduling()
PLAN = Plan(config)
DATA = PLAN.stage("data")
CLASSIFICATION = PLAN.stage("classification")
LECTURE = PLAN.stage("lecture")
MODEL_STUDIES = PLAN.stage("model_studies")
REGRESSION = PLAN.stage("regression")
GENERALIZATION = PLAN.stage("generalization")
Z_PEAK = PLAN.stage("z_peak")
GENERATIVE = PLAN.stage("generative")
TUNING = PLAN.stage("tuning")
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
# The one environment every rule runs in (`--sdm conda`), pinned as constraints.txt is.
CONDA_ENV = "../../envs/mlhep.yaml"


wildcard_constraints:
    dataset="|".join(DATASETS) or "no-dataset",
    split="|".join(SPLITS),
    features="|".join(FEATURE_SETS) or "no-features",


def split_file(split):
    """A rule's template of one split of its dataset."""
    return paths.fill(paths.SPLIT, split=split)


def split_files(wildcards):
    """The three splits of the job's dataset."""
    return PLAN.split_files(wildcards.dataset)


def dataset_kind(wildcards):
    """The plug-in kind of the job's dataset."""
    return config["datasets"][wildcards.dataset]["kind"]


def columns_of(wildcards):
    """The columns of the job's feature set."""
    return PLAN.columns(wildcards.dataset, wildcards.features)


def has_limit(wildcards):
    """Whether the job's feature set has an exact limit."""
    return PLAN.has_limit(wildcards.dataset, wildcards.features)


def model_settings(wildcards):
    """The job's model section less what does not change results (activate, threads)."""
    return PLAN.hyperparameters(wildcards.model)


def model_threads(wildcards):
    """Threads of a training job: the model's `threads` key where it has one."""
    return config["models"][wildcards.model].get("threads", 1)


def regressor_physics(wildcards):
    """What a regressor knows of its dataset (the readout: shape, sampling, noise, pile-up
    crossings); nothing for a classifier."""
    if MODELS[wildcards.model].kind != ModelKind.REGRESSOR:
        return {}
    return DATA.producer_settings(wildcards.dataset)


def device_of(wildcards):
    """The device setting a GPU-capable model trains with; `cpu` for the others."""
    return config["device"] if wildcards.model in GPU_MODELS else "cpu"


def study_output(name, file):
    """A rule's template of one file of a model study ({dataset}, {features} left open)."""
    study = STUDY_REGISTRY[name]
    return paths.fill(paths.STUDY_FILE, folder=study.folder(name), file=file)


def study_model(name, output):
    """A rule's template of the trained model (or its record) a model study reads."""
    template = paths.MODEL if output == "model" else paths.RECORD
    return paths.fill(template, model=STUDY_REGISTRY[name].model)


TUNED_MODELS = TUNING.models()


def search_of(wildcards):
    """What the job's search means (mlhep.studies.tuning.Search)."""
    return TUNING.search(wildcards.dataset, wildcards.model, wildcards.features)


def close_orphaned_runs():
    """When an invocation starts: end the MLflow runs that jobs of an earlier invocation,
    killed with it (SIGKILL, power cut), left RUNNING."""
    from mlhep.tracking import close_orphaned_runs as close

    if os.path.exists(paths.MLFLOW_READY):
        with open(paths.MLFLOW_READY) as f:
            uri = json.load(f)["tracking_uri"]
        closed = close(uri)
        if closed:
            print(f"MLflow: ended {len(closed)} run(s) of killed jobs as KILLED: {closed}")


def close_unfinished_runs():
    """After a failed invocation: end its MLflow runs that a killed job left RUNNING."""
    from mlhep.tracking import close_unfinished_runs as close, invocation

    if os.path.exists(paths.MLFLOW_READY):
        with open(paths.MLFLOW_READY) as f:
            uri = json.load(f)["tracking_uri"]
        closed = close(uri, invocation())
        if closed:
            print(f"MLflow: ended {len(closed)} run(s) of killed jobs as KILLED: {closed}")


# The invocation's warm worker (mlhep.worker): started once the run begins, for local runs
# only (a cluster job must run inside its own allocation).
WARM_WORKER = []


def start_warm_worker():
    """When a local invocation starts: the process that runs its jobs with their imports
    done (a job's own interpreter then costs about 0.4 s instead of 3-8 s), where it has
    enough jobs to pay for the worker's own imports."""
    if workflow.local_exec and len(workflow.dag) >= worker.MIN_JOBS:
        WARM_WORKER.append(worker.start())


def stop_warm_worker():
    """When the invocation ends, either way: the warm worker ends with it."""
    while WARM_WORKER:
        worker.stop(WARM_WORKER.pop())
