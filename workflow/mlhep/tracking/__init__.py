"""MLflow tracking: one store, one experiment per dataset, runs tagged for provenance and
for browsing.

Four MLflow processes opening a fresh SQLite store at once corrupt it for good (they all
run the schema migration), and concurrent experiment creation collides. So the store and
the experiments are created once by :func:`init_store` (the workflow's first rule), and the
jobs only open runs in experiments that already exist (:func:`start_run`), described by a
:class:`RunSpec` built from the job's inputs and params (never from the global config).

What a user browsing the UI sees: experiments open on their training runs (tag
``mlflow.experimentKind``), a run's source names its rule and script, its datasets are
logged as MLflow dataset inputs with their digests, every run of one workflow invocation
carries the same ``workflow_invocation`` tag, and a run whose job was terminated is ended
as KILLED instead of staying RUNNING (:func:`close_unfinished_runs` after a failed
invocation).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

STORE_DIR = Path("results") / "mlflow"
#: Environment variable naming the workflow invocation a job belongs to (set by the Snakefile).
INVOCATION_ENV = "MLHEP_INVOCATION"
#: The experiment tag that makes the UI open an experiment on its runs, not on GenAI traces.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def mlflow_module() -> ModuleType:
    """MLflow, imported with its telemetry off (no network at run time)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    return mlflow


def tracking_uri(tracking: Mapping[str, Any], workdir: str | os.PathLike[str] = ".") -> str:
    """The configured tracking URI (config section ``tracking``), or the embedded SQLite
    store under ``results/mlflow``."""
    uri = tracking["uri"]
    if uri:
        return str(uri)
    db = (Path(workdir) / STORE_DIR / "mlflow.db").resolve()
    return f"sqlite:///{db}"


def artifact_location(workdir: str | os.PathLike[str], experiment: str) -> str:
    """Where a local store keeps an experiment's artifacts (``results/mlflow/artifacts``)."""
    return (Path(workdir) / STORE_DIR / "artifacts" / experiment).resolve().as_uri()


def experiment_name(tracking: Mapping[str, Any], dataset: str) -> str:
    """The experiment of a dataset: the configured prefix plus the dataset name."""
    return f"{tracking['experiment_prefix']}{dataset}"


def init_store(
    uri: str, experiments: Iterable[str], workdir: str | os.PathLike[str] = "."
) -> dict[str, str]:
    """Create (and migrate) the store and every experiment once; return name -> experiment id.

    Run by one process before any parallel job. Existing experiments are reused, so it is
    safe to rerun. Local stores put artifacts under ``results/mlflow/artifacts``; a server
    (``http://``) chooses its own artifact location. Every experiment is tagged as model
    development, so that the UI opens it on its runs.
    """
    mlflow = mlflow_module()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = mlflow.MlflowClient(tracking_uri=uri)
    ids: dict[str, str] = {}
    for name in experiments:
        found = client.get_experiment_by_name(name)
        if found is not None:
            ids[name] = found.experiment_id
        else:
            location = None if uri.startswith("http") else artifact_location(workdir, name)
            ids[name] = client.create_experiment(name, artifact_location=location)
        for key, value in EXPERIMENT_KIND.items():
            client.set_experiment_tag(ids[name], key, value)
    return ids


def create_store(
    tracking: Mapping[str, Any], datasets: Iterable[str], workdir: str | os.PathLike[str] = "."
) -> dict[str, Any]:
    """:func:`init_store` for the config section ``tracking`` and the datasets' experiments;
    return the store record every job reads (``results/mlflow/experiments.json``): the
    tracking URI and each dataset's experiment name and id."""
    uri = tracking_uri(tracking, workdir)
    names = {dataset: experiment_name(tracking, dataset) for dataset in datasets}
    ids = init_store(uri, names.values(), workdir)
    return {
        "tracking_uri": uri,
        "experiments": {ds: {"name": name, "id": ids[name]} for ds, name in names.items()},
    }


def git_commit(path: str | os.PathLike[str] = ".") -> str:
    """The commit of the repository holding ``path`` (``-dirty`` if it has changes), or
    ``unknown`` outside a git checkout. Git takes no optional lock: ``git status`` would
    otherwise refresh the index under ``.git/index.lock``, which a job killed meanwhile
    leaves behind in the user's repository."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", str(path), *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def params_digest(params: Any) -> str:
    """SHA-256 of the canonical JSON of what a job depends on (its params)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def invocation() -> str:
    """The id of the workflow invocation this process belongs to (``unknown`` outside one)."""
    return os.environ.get(INVOCATION_ENV, "unknown")


@dataclass(frozen=True)
class RunSpec:
    """Where and as what a job logs: the store, its dataset's experiment, and provenance."""

    uri: str
    experiment: str
    dataset: str
    rule: str
    script: str
    source_dir: str
    params_digest: str

    @classmethod
    def for_job(
        cls,
        experiments_file: str | os.PathLike[str],
        dataset: str,
        rule: str,
        script: str,
        params: Any,
        source_dir: str | os.PathLike[str] = ".",
    ) -> RunSpec:
        """The spec of a job from the store record written by :func:`init_store`'s rule."""
        record = json.loads(Path(experiments_file).read_text())
        if dataset not in record["experiments"]:
            raise LookupError(
                f"{experiments_file} has no experiment for dataset {dataset!r}: "
                f"{sorted(record['experiments'])}"
            )
        return cls(
            uri=record["tracking_uri"],
            experiment=record["experiments"][dataset]["name"],
            dataset=dataset,
            rule=rule,
            script=script,
            source_dir=str(source_dir),
            params_digest=params_digest(params),
        )

    def tags(self) -> dict[str, str]:
        """Provenance and browsing tags of every run of this spec."""
        commit = git_commit(self.source_dir)
        return {
            "git_commit": commit,
            "mlflow.source.git.commit": commit.removesuffix("-dirty"),
            "mlflow.source.name": f"{self.script} (Snakemake rule {self.rule})",
            "mlflow.source.type": "JOB",
            "params_digest": self.params_digest,
            "snakemake_rule": self.rule,
            "dataset": self.dataset,
            "workflow_invocation": invocation(),
            # which process owns the run while it is RUNNING (see close_orphaned_runs)
            "mlhep.host": socket.gethostname(),
            "mlhep.pid": str(os.getpid()),
        }


def _user() -> str:
    """The user a run belongs to, as MLflow's own context records it: the tracking server's
    login (``MLFLOW_TRACKING_USERNAME`` or the credentials file), else the system user."""
    from mlflow.utils.credentials import read_mlflow_creds

    login = read_mlflow_creds().username
    if login:
        return login
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class _Terminated(SystemExit):
    """Raised in a job that received SIGTERM, so that its run ends as KILLED."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)


@contextlib.contextmanager
def start_run(spec: RunSpec, run_name: str, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """Open a run in the spec's experiment (which :func:`init_store` created).

    Raises ``LookupError`` naming the experiment if it does not exist, rather than creating
    it here, where parallel jobs would race. A SIGTERM (a cluster's time limit, a killed
    job) ends the run as KILLED before the process exits; any other error as FAILED.
    """
    mlflow = mlflow_module()
    mlflow.set_tracking_uri(spec.uri)
    experiment = mlflow.MlflowClient(tracking_uri=spec.uri).get_experiment_by_name(spec.experiment)
    if experiment is None:
        raise LookupError(
            f"MLflow experiment {spec.experiment!r} does not exist in {spec.uri}; the rule "
            "mlflow_init creates it before any job logs"
        )
    # created through the client, then made the active run: MLflow's fluent start of a new
    # run resolves its context tags by importing GitPython and IPython (0.3 s a job); the
    # spec's tags already carry the source, the commit and the user
    created = mlflow.MlflowClient(tracking_uri=spec.uri).create_run(
        experiment.experiment_id,
        tags={**spec.tags(), "mlflow.user": _user(), **(tags or {})},
        run_name=run_name,
    )
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with mlflow.start_run(run_id=created.info.run_id) as run:
            try:
                yield run
            except _Terminated:
                mlflow.end_run("KILLED")
                raise
    finally:
        signal.signal(signal.SIGTERM, previous)


class RunAddition:
    """What a later job adds to a finished run (an evaluation's metrics and plots, a study's
    ranking), through the client: the run keeps its status and its end time, so the UI's
    Duration stays the training job's own."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log scalar metrics (step 0, now)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        _log_in_batches(
            self.client, self.run_id, [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        )

    def set_tag(self, key: str, value: str) -> None:
        """Set one tag."""
        self.client.set_tag(self.run_id, key, value)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a file into the run's artifacts (under ``artifact_path``)."""
        self.client.log_artifact(self.run_id, os.fspath(path), artifact_path)

    def log_dict(self, data: Any, artifact_file: str) -> None:
        """Save ``data`` as a JSON artifact."""
        self.client.log_dict(self.run_id, data, artifact_file)


def add_to_run(experiments_file: str | os.PathLike[str], run_id: str) -> RunAddition:
    """The finished run ``run_id`` (in the store of the :func:`init_store` record), to add
    to without reopening it."""
    uri = json.loads(Path(experiments_file).read_text())["tracking_uri"]
    return RunAddition(mlflow_module().MlflowClient(tracking_uri=uri), run_id)


def log_params(params: Mapping[str, Any]) -> None:
    """Log parameters to the active run (values as MLflow shows them)."""
    mlflow_module().log_params(dict(params))


def log_splits(
    splits: Mapping[str, Any],
    paths: Mapping[str, str | os.PathLike[str]],
    dataset: str,
    columns: Iterable[str],
) -> None:
    """Log each split as an MLflow dataset input (name ``<dataset>-<split>``, its source
    file, the label as target, and as digest the start of the SHA-256 of its event ids, the
    fingerprint ``splits.json`` records), with the split as context."""
    from mlhep.features.splits import ids_digest

    mlflow = mlflow_module()
    from mlflow.models import infer_signature

    keep = ["event_id", "label", "weight", *columns]
    for split, frame in splits.items():
        with warnings.catch_warnings():
            # MLflow registers its local-file source class twice and warns that a path
            # "can be interpreted in multiple ways" (both are the same class); and it hints
            # that integer columns (event_id, label) cannot hold missing values
            warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
            data = mlflow.data.from_pandas(
                frame[keep],
                source=str(Path(paths[split]).resolve()),
                targets="label",
                name=f"{dataset}-{split}",
                digest=ids_digest(frame["event_id"].to_numpy())[:16],
            )
            # the schema (column names and types) of a few rows is that of the whole split;
            # inferring it from 400k rows costs seconds per split
            data.__dict__["schema"] = infer_signature(frame[keep].head(100)).inputs
        _log_input(mlflow, data, split)


def _log_input(mlflow: ModuleType, data: Any, context: str, attempts: int = 5) -> None:
    """``mlflow.log_input``, retried: the store keeps one row per dataset (experiment, name,
    digest), and parallel jobs that log the same split race to insert it; the loser's
    insert fails on the unique constraint, and its retry finds the row and links to it."""
    for attempt in range(attempts):
        try:
            mlflow.log_input(data, context=context)
            return
        except mlflow.exceptions.MlflowException as error:
            if attempt + 1 == attempts or "unique" not in str(error).lower():
                raise
            time.sleep(0.2 * (attempt + 1))


def log_curves(curves: Mapping[str, Iterable[float]], steps: Iterable[int] | None = None) -> None:
    """Log per-step curves (name -> values; step = index, or the matching entry of
    ``steps``) to the active run in batches: one request per 1000 values instead of one
    per value."""
    mlflow = mlflow_module()
    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_curves needs an active MLflow run")
    timestamp = int(time.time() * 1000)
    step_of = list(steps) if steps is not None else None
    metrics = [
        Metric(name, float(value), timestamp, step_of[i] if step_of is not None else i)
        for name, values in curves.items()
        for i, value in enumerate(values)
    ]
    _log_in_batches(mlflow.MlflowClient(), run.info.run_id, metrics)


def _log_in_batches(client: Any, run_id: str, metrics: list[Any]) -> None:
    """Log metrics to a run, 1000 to a request (MLflow's batch limit)."""
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def _running_runs(uri: str, condition: str) -> tuple[Any, list[Any]]:
    """The store's client and its RUNNING runs (every experiment) that meet ``condition``."""
    client = mlflow_module().MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return client, []
    filter_string = f"attributes.status = 'RUNNING' and {condition}"
    return client, list(client.search_runs(experiments, filter_string=filter_string))


def close_unfinished_runs(uri: str, invocation_id: str, status: str = "KILLED") -> list[str]:
    """End every run of one workflow invocation that is still RUNNING (its job was killed
    without a chance to end it); return their ids. Called when an invocation fails."""
    client, runs = _running_runs(uri, f"tags.workflow_invocation = '{invocation_id}'")
    for run in runs:
        client.set_terminated(run.info.run_id, status)
    return [run.info.run_id for run in runs]


def _alive_since(pid: int, start_ms: int) -> bool:
    """Whether process ``pid`` runs on this host and began before ``start_ms`` (a process
    that began later reuses the number of a dead one)."""
    import psutil

    try:
        return psutil.Process(pid).create_time() * 1000 <= start_ms + 1000
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _any_running(uri: str) -> bool:
    """Whether the store may hold a RUNNING run: for a SQLite file, one query on MLflow's
    ``runs`` table (no MLflow import at the start of every invocation); otherwise True."""
    import sqlite3

    if not uri.startswith("sqlite:///"):
        return True
    path = uri.removeprefix("sqlite:///")
    if not os.path.exists(path):
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            (count,) = db.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()
    except sqlite3.Error:
        return True  # another schema: let MLflow look
    return count > 0


def close_orphaned_runs(uri: str, host: str | None = None) -> list[str]:
    """End as KILLED every RUNNING run whose process on this host is gone (a job killed with
    the whole invocation, by SIGKILL or a power cut, never ends its run, and no onerror
    handler ran); return their ids. Runs of other hosts (cluster nodes, colleagues on a
    shared server) and of live processes are left alone. Called when an invocation starts."""
    if not _any_running(uri):
        return []
    host = host or socket.gethostname()
    client, runs = _running_runs(uri, f"tags.`mlhep.host` = '{host}'")
    closed = []
    for run in runs:
        pid = run.data.tags.get("mlhep.pid", "")
        if pid.isdigit() and not _alive_since(int(pid), run.info.start_time):
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed
