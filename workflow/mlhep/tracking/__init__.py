"""MLflow tracking: one store, one experiment per dataset, runs tagged for provenance.

Four MLflow processes opening a fresh SQLite store at once corrupt it for good (they all
run the schema migration), and concurrent experiment creation collides. So the store and
the experiments are created once by :func:`init_store` (the workflow's first rule), and the
training jobs only open runs in experiments that already exist (:func:`start_run`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

# no network at run time: keep MLflow from phoning home
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlhep.config import config_digest

STORE_DIR = Path("results") / "mlflow"


def tracking_uri(config: Mapping[str, Any], workdir: str | os.PathLike[str] = ".") -> str:
    """The configured tracking URI, or the embedded SQLite store under ``results/mlflow``."""
    uri = config["tracking"]["uri"]
    if uri:
        return str(uri)
    db = (Path(workdir) / STORE_DIR / "mlflow.db").resolve()
    return f"sqlite:///{db}"


def artifact_location(workdir: str | os.PathLike[str], experiment: str) -> str:
    """Where a local store keeps an experiment's artifacts (``results/mlflow/artifacts``)."""
    return (Path(workdir) / STORE_DIR / "artifacts" / experiment).resolve().as_uri()


def experiment_name(config: Mapping[str, Any], dataset: str) -> str:
    """The experiment of a dataset: the configured prefix plus the dataset name."""
    return f"{config['tracking']['experiment_prefix']}{dataset}"


def init_store(
    uri: str, experiments: Iterable[str], workdir: str | os.PathLike[str] = "."
) -> dict[str, str]:
    """Create (and migrate) the store and every experiment once; return name -> experiment id.

    Run by one process before any parallel job. Existing experiments are reused, so it is
    safe to rerun. Local stores put artifacts under ``results/mlflow/artifacts``; a server
    (``http://``) chooses its own artifact location.
    """
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri)
    ids: dict[str, str] = {}
    for name in experiments:
        found = client.get_experiment_by_name(name)
        if found is not None:
            ids[name] = found.experiment_id
            continue
        location = None if uri.startswith("http") else artifact_location(workdir, name)
        ids[name] = client.create_experiment(name, artifact_location=location)
    return ids


def git_commit(path: str | os.PathLike[str] = ".") -> str:
    """The commit of the repository holding ``path`` (``-dirty`` if it has changes), or
    ``unknown`` outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def provenance_tags(
    config: Mapping[str, Any], rule: str, dataset: str, source_dir: str | os.PathLike[str]
) -> dict[str, str]:
    """Tags every run carries: git commit, config digest, Snakemake rule, dataset."""
    commit = git_commit(source_dir)
    return {
        "git_commit": commit,
        "mlflow.source.git.commit": commit.removesuffix("-dirty"),
        "config_digest": config_digest(config),
        "snakemake_rule": rule,
        "dataset": dataset,
    }


@contextlib.contextmanager
def start_run(
    config: Mapping[str, Any],
    dataset: str,
    rule: str,
    run_name: str,
    source_dir: str | os.PathLike[str],
    workdir: str | os.PathLike[str] = ".",
    tags: Mapping[str, str] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Open a run in the dataset's experiment (which :func:`init_store` created).

    Raises ``LookupError`` naming the experiment if it does not exist, rather than creating
    it here, where parallel jobs would race.
    """
    uri = tracking_uri(config, workdir)
    mlflow.set_tracking_uri(uri)
    name = experiment_name(config, dataset)
    experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name(name)
    if experiment is None:
        raise LookupError(
            f"MLflow experiment {name!r} does not exist in {uri}; the rule mlflow_init "
            "creates it before any training job"
        )
    all_tags = {**provenance_tags(config, rule, dataset, source_dir), **(tags or {})}
    with mlflow.start_run(
        experiment_id=experiment.experiment_id, run_name=run_name, tags=all_tags
    ) as run:
        yield run


def log_curves(curves: Mapping[str, Iterable[float]]) -> None:
    """Log per-epoch curves (name -> values, step = epoch) to the active run in batches:
    one request per 1000 values instead of one per value."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_curves needs an active MLflow run")
    timestamp = int(time.time() * 1000)
    metrics = [
        Metric(name, float(value), timestamp, step)
        for name, values in curves.items()
        for step, value in enumerate(values)
    ]
    client = MlflowClient()
    for start in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
