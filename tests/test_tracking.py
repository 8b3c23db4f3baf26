"""MLflow tracking: the store is created once, then many real processes log at once; runs
carry what a user browsing the UI needs; a terminated job's run does not stay RUNNING."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlhep.config import validate_config
from mlhep.tracking import (
    INVOCATION_ENV,
    RunSpec,
    add_to_run,
    close_orphaned_runs,
    close_unfinished_runs,
    create_store,
    experiment_name,
    init_store,
    log_splits,
    params_digest,
    start_run,
    tracking_uri,
)

N_PROCESSES = 6
N_STEPS = 25

WORKER = textwrap.dedent(
    """
    import os, sys, time
    import mlflow
    import pandas as pd
    from mlhep.tracking import RunSpec, log_splits, start_run
    experiments, k, n_steps, sleep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), """
    """float(sys.argv[4])
    go = sys.argv[5] if len(sys.argv) > 5 else None
    spec = RunSpec.for_job(experiments, "dimuon", "worker", "tests/worker.py", {"k": k})
    # every worker logs the same split at once: one dataset row, linked to every run
    split = pd.DataFrame({"event_id": [1, 2], "label": [0, 1], "weight": """
    """[1.0, 1.0], "a": [0.5, 2.0]})
    with start_run(spec, f"worker-{k}"):
        if go:  # wait, run open, until every worker is: all then log the split together
            print("ready", flush=True)
            while not os.path.exists(go):
                time.sleep(0.005)
        log_splits({"train": split}, {"train": "train.parquet"}, "dimuon", ["a"])
        mlflow.log_params({"k": k, "kind": "concurrency"})
        for step in range(n_steps):
            mlflow.log_metrics({"loss": 1.0 / (step + 1), "k": float(k)}, step=step)
        mlflow.log_dict({"k": k}, "result.json")
        print("logging", flush=True)
        time.sleep(sleep)
    """
)


@pytest.fixture
def config() -> dict:
    cfg: dict = {}
    validate_config(cfg)
    return cfg


def store(config: dict, tmp_path: Path) -> Path:
    """Initialise a store with the dimuon experiment and write its record like mlflow_init."""
    record = tmp_path / "experiments.json"
    record.write_text(json.dumps(create_store(config["tracking"], ["dimuon"], tmp_path)))
    return record


def test_default_uri_is_sqlite_under_results(config: dict, tmp_path: Path) -> None:
    tracking = config["tracking"]
    assert tracking_uri(tracking, tmp_path) == f"sqlite:///{tmp_path}/results/mlflow/mlflow.db"
    assert experiment_name(tracking, "dimuon") == "mlhep-dimuon"
    tracking["uri"] = "http://127.0.0.1:5000"
    assert tracking_uri(tracking, tmp_path) == "http://127.0.0.1:5000"


def test_init_store_is_idempotent_and_experiments_open_on_runs(
    config: dict, tmp_path: Path
) -> None:
    uri = tracking_uri(config["tracking"], tmp_path)
    first = init_store(uri, ["a", "b"], tmp_path)
    second = init_store(uri, ["b", "a", "c"], tmp_path)
    assert first["a"] == second["a"] and first["b"] == second["b"]
    experiment = MlflowClient(uri).get_experiment(first["a"])
    assert experiment.artifact_location == (tmp_path / "results/mlflow/artifacts/a").as_uri()
    # the UI opens a model-development experiment on its runs, not on GenAI traces
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_run_without_initialised_experiment_is_refused(config: dict, tmp_path: Path) -> None:
    uri = tracking_uri(config["tracking"], tmp_path)
    init_store(uri, ["other"], tmp_path)
    spec = RunSpec(uri, "mlhep-dimuon", "dimuon", "r", "s.py", str(tmp_path), "0")
    with pytest.raises(LookupError, match="'mlhep-dimuon' does not exist"), start_run(spec, "n"):
        pass


def test_run_tags_source_digest_invocation_and_dataset_inputs(
    config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = store(config, tmp_path)
    monkeypatch.setenv(INVOCATION_ENV, "inv-1")
    params = {"seed": 1, "columns": ["a"]}
    spec = RunSpec.for_job(record, "dimuon", "train", "workflow/scripts/train.py", params)
    frame = pd.DataFrame(
        {"event_id": [1, 2], "label": [0, 1], "weight": [1.0, 1.0], "a": [0.5, 2.0]}
    )
    paths = {"train": tmp_path / "train.parquet", "test": tmp_path / "test.parquet"}
    with start_run(spec, "m-a") as run:
        log_splits({"train": frame, "test": frame.iloc[:1]}, paths, "dimuon", ["a"])
    got = MlflowClient(spec.uri).get_run(run.info.run_id)
    tags = got.data.tags
    assert tags["mlflow.source.name"] == "workflow/scripts/train.py (Snakemake rule train)"
    assert tags["params_digest"] == params_digest(params) and len(tags["params_digest"]) == 64
    assert tags["workflow_invocation"] == "inv-1" and tags["dataset"] == "dimuon"
    inputs = {d.dataset.name: d for d in got.inputs.dataset_inputs}
    assert set(inputs) == {"dimuon-train", "dimuon-test"}
    assert inputs["dimuon-train"].dataset.digest != inputs["dimuon-test"].dataset.digest
    assert {t.value for d in inputs.values() for t in d.tags if t.key == "mlflow.data.context"} == {
        "train",
        "test",
    }


def test_a_later_job_adds_to_a_run_without_reopening_it(config: dict, tmp_path: Path) -> None:
    """An evaluation adds metrics, a tag and plots to the training's finished run; the run
    keeps its status and end time, so its duration in the UI is the training job's."""
    record = store(config, tmp_path)
    spec = RunSpec.for_job(record, "dimuon", "train", "workflow/scripts/train.py", {})
    with start_run(spec, "m-a") as run:
        pass
    client = MlflowClient(spec.uri)
    trained = client.get_run(run.info.run_id).info
    time.sleep(0.05)
    plot = tmp_path / "roc.png"
    plot.write_bytes(b"png")
    later = add_to_run(record, run.info.run_id)
    later.log_metrics({"auc": 0.75, "gap": 0.01})
    later.set_tag("limit_verdict", "consistent")
    later.log_artifact(plot, "plots")
    later.log_dict({"ranking": [1]}, "ranking.json")
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"auc": 0.75, "gap": 0.01}
    assert got.data.tags["limit_verdict"] == "consistent"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"plots", "ranking.json"}
    assert (got.info.status, got.info.end_time) == ("FINISHED", trained.end_time)


# MLflow's serialisation of a DataFrame input example compares its columns with a range
@pytest.mark.filterwarnings("ignore:Operation with range is deprecated")
def test_models_log_pinned_requirements_without_inference_and_reload(
    config: dict, tmp_path: Path
) -> None:
    """The XGBoost and PyTorch flavours get their requirements from the installed versions
    (no subprocess inference), the network is pickled (no torch.export), and both load back
    to the same outputs."""
    import mlflow
    import numpy as np
    import torch
    import xgboost as xgb
    from mlflow.artifacts import download_artifacts

    from mlhep.tracking.models import log_pytorch, log_xgboost

    record = store(config, tmp_path)
    spec = RunSpec.for_job(record, "dimuon", "train", "workflow/scripts/train.py", {})
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(x, label=x["a"] > 0), 5)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    with start_run(spec, "m-a"):
        uris = {"xgboost": log_xgboost(booster, x.head(5)), "torch": log_pytorch(net, x.head(5))}
    for flavour, uri in uris.items():
        folder = Path(download_artifacts(uri, dst_path=str(tmp_path / flavour)))
        wanted = "xgboost" if flavour == "xgboost" else "torch"
        pinned = (folder / "requirements.txt").read_text().split()
        assert any(r.startswith(f"{wanted}==") for r in pinned), pinned
    assert [p.name for p in (tmp_path / "torch/data").glob("model.*")] == ["model.pth"]
    np.testing.assert_array_equal(
        mlflow.xgboost.load_model(uris["xgboost"]).predict(xgb.DMatrix(x)),
        booster.predict(xgb.DMatrix(x)),
    )
    features = torch.tensor(x.to_numpy(np.float32))
    with torch.no_grad():
        np.testing.assert_array_equal(
            mlflow.pytorch.load_model(uris["torch"])(features).numpy(), net(features).numpy()
        )


def test_an_exception_ends_the_run_as_failed_and_propagates(config: dict, tmp_path: Path) -> None:
    record = store(config, tmp_path)
    spec = RunSpec.for_job(record, "dimuon", "train", "workflow/scripts/train.py", {})
    with pytest.raises(ZeroDivisionError), start_run(spec, "m-a") as run:
        1 / 0  # noqa: B018
    got = MlflowClient(spec.uri).get_run(run.info.run_id).info
    assert got.status == "FAILED" and got.end_time is not None


def test_terminated_job_ends_its_run_as_killed(config: dict, tmp_path: Path) -> None:
    record = store(config, tmp_path)
    env = {**os.environ, INVOCATION_ENV: "inv-kill"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(record), "0", "1", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "logging"
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, output
    client = MlflowClient(tracking_uri(config["tracking"], tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("mlhep-dimuon").experiment_id])
    assert run.info.status == "KILLED"


def test_runs_of_killed_processes_are_closed_and_live_ones_kept(
    config: dict, tmp_path: Path
) -> None:
    """A job killed with its invocation (SIGKILL: no handler runs) leaves its run RUNNING;
    the next invocation ends it as KILLED, and leaves the run of a live job alone."""
    record = store(config, tmp_path)
    uri = tracking_uri(config["tracking"], tmp_path)
    assert close_orphaned_runs(uri) == []  # nothing running: answered without MLflow
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(record), str(k), "1", "120"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in (0, 1)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "logging"
        workers[0].kill()
        workers[0].wait(timeout=30)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("mlhep-dimuon").experiment_id
        runs = {r.data.tags["mlflow.runName"]: r for r in client.search_runs([experiment])}
        assert {r.info.status for r in runs.values()} == {"RUNNING"}
        closed = close_orphaned_runs(uri)
        assert closed == [runs["worker-0"].info.run_id]
        assert client.get_run(closed[0]).info.status == "KILLED"
        assert client.get_run(runs["worker-1"].info.run_id).info.status == "RUNNING"
        # a run of another host is never touched, whatever its pid
        assert close_orphaned_runs(uri, host="elsewhere") == []
    finally:
        for worker in workers:
            worker.kill()
            worker.communicate(timeout=30)


def test_unfinished_runs_of_an_invocation_are_closed(config: dict, tmp_path: Path) -> None:
    record = store(config, tmp_path)
    uri = tracking_uri(config["tracking"], tmp_path)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("mlhep-dimuon").experiment_id
    # a job killed without a chance to end its run (SIGKILL) leaves it RUNNING
    mine = client.create_run(experiment, tags={"workflow_invocation": "inv-2"}).info.run_id
    other = client.create_run(experiment, tags={"workflow_invocation": "inv-3"}).info.run_id
    assert record.exists()
    assert close_unfinished_runs(uri, "inv-2") == [mine]
    assert client.get_run(mine).info.status == "KILLED"
    assert client.get_run(other).info.status == "RUNNING"


def test_concurrent_processes_lose_no_run(config: dict, tmp_path: Path) -> None:
    record = store(config, tmp_path)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(record), str(k), str(N_STEPS), "0", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(N_PROCESSES)
    ]
    start = time.time()
    for p in procs:  # every worker has imported MLflow and opened its run ...
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()  # ... before any logs: the writes overlap
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert time.time() - start < 300
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out
    client = MlflowClient(tracking_uri(config["tracking"], tmp_path))
    experiment = client.get_experiment_by_name("mlhep-dimuon")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert sorted(r.data.params["k"] for r in runs) == [str(k) for k in range(N_PROCESSES)]
    for run in runs:
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(N_STEPS))
        assert run.data.tags["snakemake_rule"] == "worker"
        assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["dimuon-train"]
        assert run.data.tags["params_digest"] == params_digest({"k": int(run.data.params["k"])})
        assert "git_commit" in run.data.tags
        artifact = Path(client.download_artifacts(run.info.run_id, "result.json", str(tmp_path)))
        assert json.loads(artifact.read_text()) == {"k": int(run.data.params["k"])}
    # the store is still sound: a fresh integrity check passes
    with sqlite3.connect(tmp_path / "results/mlflow/mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
