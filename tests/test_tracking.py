"""MLflow tracking: the store is created once, then many real processes log at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlhep.config import config_digest, validate_config
from mlhep.tracking import experiment_name, init_store, start_run, tracking_uri

N_PROCESSES = 6
N_STEPS = 25

WORKER = textwrap.dedent(
    """
    import json, sys
    import mlflow
    from mlhep.tracking import start_run
    config = json.loads(sys.argv[1]); k = int(sys.argv[2]); workdir = sys.argv[3]
    n_steps = int(sys.argv[4])
    with start_run(config, "dimuon", "worker", f"worker-{k}", workdir, workdir=workdir):
        mlflow.log_params({"k": k, "kind": "concurrency"})
        for step in range(n_steps):
            mlflow.log_metrics({"loss": 1.0 / (step + 1), "k": float(k)}, step=step)
        mlflow.log_dict({"k": k}, "result.json")
    """
)


@pytest.fixture
def config() -> dict:
    cfg: dict = {}
    validate_config(cfg)
    return cfg


def test_default_uri_is_sqlite_under_results(config: dict, tmp_path: Path) -> None:
    assert tracking_uri(config, tmp_path) == f"sqlite:///{tmp_path}/results/mlflow/mlflow.db"
    assert experiment_name(config, "dimuon") == "mlhep-dimuon"
    config["tracking"]["uri"] = "http://127.0.0.1:5000"
    assert tracking_uri(config, tmp_path) == "http://127.0.0.1:5000"


def test_init_store_is_idempotent(config: dict, tmp_path: Path) -> None:
    uri = tracking_uri(config, tmp_path)
    first = init_store(uri, ["a", "b"], tmp_path)
    second = init_store(uri, ["b", "a", "c"], tmp_path)
    assert first["a"] == second["a"] and first["b"] == second["b"]
    location = MlflowClient(uri).get_experiment(first["a"]).artifact_location
    assert location == (tmp_path / "results/mlflow/artifacts/a").as_uri()


def test_run_without_initialised_experiment_is_refused(config: dict, tmp_path: Path) -> None:
    init_store(tracking_uri(config, tmp_path), ["other"], tmp_path)
    with (
        pytest.raises(LookupError, match="'mlhep-dimuon' does not exist"),
        start_run(config, "dimuon", "r", "n", tmp_path, workdir=tmp_path),
    ):
        pass


def test_concurrent_processes_lose_no_run(config: dict, tmp_path: Path, repo: Path) -> None:
    uri = tracking_uri(config, tmp_path)
    init_store(uri, [experiment_name(config, "dimuon")], tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(config), str(k), str(tmp_path), str(N_STEPS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(N_PROCESSES)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("mlhep-dimuon")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert sorted(r.data.params["k"] for r in runs) == [str(k) for k in range(N_PROCESSES)]
    for run in runs:
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(N_STEPS))
        assert run.data.tags["snakemake_rule"] == "worker"
        assert run.data.tags["config_digest"] == config_digest(config)
        assert "git_commit" in run.data.tags
        artifact = Path(client.download_artifacts(run.info.run_id, "result.json", str(tmp_path)))
        assert json.loads(artifact.read_text()) == {"k": int(run.data.params["k"])}
    # the store is still sound: a fresh integrity check passes
    import sqlite3

    with sqlite3.connect(tmp_path / "results/mlflow/mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
