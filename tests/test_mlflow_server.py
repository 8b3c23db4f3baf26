"""Browsing the runs: the MLflow server started and stopped as one process group, and the
documented command ``python -m mlhep.browse`` serving the tiny run's store over REST."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from helpers import require

from mlhep.browse import browse_command, main, workflow_store
from mlhep.tracking.server import (
    free_port,
    group_members,
    is_healthy,
    server_command,
    server_url,
    start_server,
    stop_process_group,
)

# a process group whose leader forks a worker that ignores SIGTERM, like a stuck server worker
GROUP = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    worker = [sys.executable, "-c",
              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('ready', flush=True); time.sleep(600)"]
    child = subprocess.Popen(worker, stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is dead, only not yet reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def api(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (or POST ``body`` as JSON to) the server's REST API; return the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def option(command: list[str], name: str) -> str:
    """The value given to option ``name`` in a command line."""
    return command[command.index(name) + 1]


def test_server_command_binds_loopback_and_serves_the_artifacts(tmp_path: Path) -> None:
    command = server_command("sqlite:///x.db", artifacts_destination=str(tmp_path))
    assert command[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert option(command, "--backend-store-uri") == "sqlite:///x.db"
    assert option(command, "--host") == "127.0.0.1" and option(command, "--port") == "5000"
    assert option(command, "--workers") == "1" and "--app-name" not in command
    assert "--serve-artifacts" in command
    assert option(command, "--artifacts-destination") == tmp_path.as_uri()
    shared = server_command(
        "postgresql://mlflow@db/mlflow",
        host="0.0.0.0",
        port=8080,
        artifacts_destination="s3://bucket/mlflow",
        app_name="basic-auth",
        workers=4,
    )
    assert option(shared, "--artifacts-destination") == "s3://bucket/mlflow"
    assert option(shared, "--app-name") == "basic-auth"
    assert shared[-6:] == ["--host", "0.0.0.0", "--port", "8080", "--workers", "4"]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        server_command("sqlite:///x.db", workers=0)


def test_server_url_and_free_port() -> None:
    assert server_url("127.0.0.1", 5000) == "http://127.0.0.1:5000"
    assert server_url("::1", 5000) == "http://[::1]:5000"
    port = free_port()
    assert 0 < port < 65536
    assert not is_healthy(server_url("127.0.0.1", port), timeout=1)


def test_browse_needs_the_workflow_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(FileNotFoundError, match="run the workflow"):
        workflow_store(tmp_path)
    assert main(["--workdir", str(tmp_path)]) == 1
    assert "rule mlflow_init creates the store" in capsys.readouterr().err


def test_browse_serves_the_recorded_store_or_points_at_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    record = tmp_path / "results/mlflow/experiments.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"tracking_uri": "sqlite:////data/mlflow.db"}))
    command = browse_command(tmp_path, port=5123)
    assert option(command, "--backend-store-uri") == "sqlite:////data/mlflow.db"
    artifacts = (tmp_path / "results/mlflow/artifacts").resolve().as_uri()
    assert option(command, "--artifacts-destination") == artifacts
    assert option(command, "--port") == "5123" and option(command, "--host") == "127.0.0.1"

    record.write_text(json.dumps({"tracking_uri": "http://mlflow.example:5000"}))
    with pytest.raises(ValueError, match=re.escape("tracking server http://mlflow.example:5000")):
        browse_command(tmp_path)
    assert main(["--workdir", str(tmp_path)]) == 1
    assert "browse it there" in capsys.readouterr().err


def test_stop_process_group_stops_workers_that_outlive_their_leader() -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", GROUP], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        worker = int(leader.stdout.readline())  # type: ignore[union-attr]
        assert set(group_members(leader.pid)) == {leader.pid, worker}
        # killing the leader alone leaves the worker running: the reason to stop the group
        leader.kill()
        leader.wait(timeout=10)
        assert alive(worker) and group_members(leader.pid) == [worker]
        start = time.monotonic()
        stop_process_group(leader.pid, leader, grace=0.5)  # SIGTERM ignored: SIGKILL follows
        assert time.monotonic() - start < 10
        assert not alive(worker) and group_members(leader.pid) == []
    finally:
        if group_members(leader.pid):
            stop_process_group(leader.pid, leader, grace=0)
        leader.stdout.close()  # type: ignore[union-attr]


def test_start_server_reports_a_server_that_exits_or_never_answers(tmp_path: Path) -> None:
    url = server_url("127.0.0.1", free_port())
    with pytest.raises(RuntimeError, match="exited with status 3"):
        start_server([sys.executable, "-c", "raise SystemExit(3)"], url, timeout=60)
    marker = f"mlhep-test-{uuid.uuid4().hex}"
    log = tmp_path / "server.log"
    sleeper = [sys.executable, "-c", f"print('{marker}', flush=True); import time; time.sleep(600)"]
    with pytest.raises(RuntimeError, match="did not answer within 1"):
        start_server(sleeper, url, log=log, timeout=1)
    assert marker in log.read_text()  # its output went to the log
    left = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if marker in " ".join(p.info["cmdline"] or []) and alive(p.pid)
    ]
    assert not left, f"the timed-out server's processes {left} were not stopped"


@pytest.mark.workflow
def test_browse_serves_the_workflow_runs_over_rest(tiny: Path, tmp_path: Path) -> None:
    """The documented command on the tiny run's store: experiments, runs, test metrics and
    models over the REST API; Ctrl-C stops the server and every process it started."""
    port = free_port()
    url = server_url("127.0.0.1", port)
    log = tmp_path / "browse.log"
    with open(log, "wb") as output:
        cli = subprocess.Popen(
            [sys.executable, "-m", "mlhep.browse", "--workdir", str(tiny), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a failing test can still stop it, whatever happens
        )
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while not is_healthy(url):
            assert cli.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        started = psutil.Process(cli.pid).children(recursive=True)
        assert started, "the server runs in processes of its own"
        check_rest_api(url, tiny)
        check_ui_in_chromium(log, tiny, tmp_path)
    finally:
        cli.send_signal(signal.SIGINT)  # what Ctrl-C does in a terminal
        try:
            assert cli.wait(timeout=60) == 0, log.read_text()
        finally:
            for pgid in {cli.pid} | {p.pid for p in started}:
                if group_members(pgid):
                    stop_process_group(pgid, grace=0)
    assert "MLflow UI on " + url in log.read_text()
    survivors = [p.pid for p in started if alive(p.pid)]
    assert not survivors, f"server processes {survivors} survived Ctrl-C"
    assert not is_healthy(url)


def check_ui_in_chromium(log: Path, workdir: Path, tmp_path: Path) -> None:
    """The experiment address the command prints opens, drawn by headless Chromium, on the
    training runs: their names, their source (script and rule) and their datasets."""
    chromium = shutil.which("chromium")
    require(chromium is not None, "needs Debian's chromium: apt-get install chromium")
    deadline = time.monotonic() + 30
    while "dimuon: http" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    address = re.search(r"(?<!\w)dimuon: (\S+)", log.read_text()).group(1)  # not cms_dimuon
    assert address.endswith("?workflowType=machine_learning")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1600,1100",
        "--virtual-time-budget=20000",
        "--dump-dom",
        address,
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=180).stdout
    record = json.loads((workdir / "results/models/dimuon/ann/low/train.json").read_text())
    assert f"{record['model']}-{record['features']}" in dom  # the run's name
    assert "workflow/scripts/train.py" in dom  # its source
    assert "dimuon-train" in dom  # its dataset input


def check_rest_api(url: str, workdir: Path) -> None:
    """Every experiment, run, test metric and model of the workflow's store is served."""
    recorded = json.loads((workdir / "results/mlflow/experiments.json").read_text())
    experiments = api(url, "/api/2.0/mlflow/experiments/search", {"max_results": 100})
    served = {e["name"]: e["experiment_id"] for e in experiments["experiments"]}
    ids = {e["name"]: e["id"] for e in recorded["experiments"].values()}
    assert ids.items() <= served.items()

    with sqlite3.connect(workdir / "results/mlflow/mlflow.db") as db:
        n_runs = db.execute("SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'").fetchone()
        n_models = db.execute(
            "SELECT count(*) FROM logged_models WHERE experiment_id = ?",
            (int(ids["mlhep-dimuon"]),),
        ).fetchone()
    runs = api(
        url,
        "/api/2.0/mlflow/runs/search",
        {"experiment_ids": list(ids.values()), "max_results": 1000},
    )["runs"]
    assert len(runs) == n_runs[0] > 20
    assert {r["info"]["status"] for r in runs} == {"FINISHED"}

    # every trained classifier's run carries the test metrics its evaluation wrote, and every
    # pulse regressor's its ratios to the Cramer-Rao bound
    evaluated = regressed = generators = 0
    dataset_of = {e["id"]: d for d, e in recorded["experiments"].items()}
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        if tags.get("kind") == "generator":  # the toy's generators, each a logged pyfunc
            # the run holds the judged number itself, the one the generator's record has
            name = tags["generator"]
            judged = json.loads((workdir / f"results/generative/{name}/fidelity.json").read_text())
            assert metrics["fidelity_two_sample_auc_all"] == pytest.approx(
                judged["scalars"]["two_sample_auc_all"], abs=1e-12
            )
            generators += 1
            continue
        if "features" not in tags:  # the Bayes limit and the Iris perceptron: no model
            continue
        dataset = dataset_of[run["info"]["experiment_id"]]
        if "optuna.study" in tags:  # a search: its run, its trials (no model), its best
            if tags.get("tuned") == "true":
                path = workdir / f"results/tuning/{dataset}/{tags['model']}/{tags['features']}"
                expected = json.loads((path / "tuned/metrics.json").read_text())
                assert metrics["auc"] == pytest.approx(expected["auc"], rel=1e-12), run["info"]
                evaluated += 1
            else:
                assert "optuna.trial" in tags or tags.get("study_parent") == "true", tags
            continue
        if tags["kind"] == "regressor":
            path = workdir / f"results/evaluation/{dataset}/regression/summary.json"
            summary = json.loads(path.read_text())["methods"][tags["model"]]
            expected_ratio = summary["amplitude"]["all"]["rms_ratio"]
            assert metrics["amplitude_rms_ratio"] == pytest.approx(expected_ratio, rel=1e-12)
            regressed += 1
            continue
        path = workdir / f"results/evaluation/{dataset}/{tags['model']}/{tags['features']}"
        expected = json.loads((path / "metrics.json").read_text())
        assert metrics["auc"] == pytest.approx(expected["auc"], rel=1e-12), run["info"]
        if "bayes_auc" in metrics:  # below the exact limit (a one-variable set: up to noise)
            assert 0.5 < metrics["auc"] < metrics["bayes_auc"] + 0.01 <= 1.01
        else:  # the user's ntuples and generated events have no exact limit
            assert dataset in ("cms_dimuon", "dimuon_gan") and 0.5 < metrics["auc"] <= 1.0
        evaluated += dataset == "dimuon"  # the logged models counted are the toy's
    assert evaluated + generators == n_models[0] and generators == 4
    assert (
        regressed
        == sum(
            len(
                json.loads(
                    (workdir / f"results/evaluation/{d}/regression/summary.json").read_text()
                )["order"]
            )
            for d in recorded["experiments"]
            if (workdir / f"results/evaluation/{d}/regression/summary.json").exists()
        )
        > 0
    )

    models = api(
        url,
        "/api/2.0/mlflow/logged-models/search",
        {"experiment_ids": [ids["mlhep-dimuon"]], "max_results": 100},
    )["models"]
    assert len(models) == n_models[0] == evaluated + generators
    run_ids = {r["info"]["run_id"] for r in runs}
    for model in models:
        info = model["info"]
        assert info["status"] == "LOGGED_MODEL_READY" and info["source_run_id"] in run_ids
        files = api(url, f"/api/2.0/mlflow/logged-models/{info['model_id']}/artifacts/directories")
        assert "MLmodel" in {f["path"] for f in files["files"]}

    # a run's artifact is listed and downloads byte for byte
    bayes = json.loads((workdir / "results/evaluation/dimuon/bayes_optimal.json").read_text())
    run_id = bayes["mlflow_run_id"]
    listing = api(url, f"/api/2.0/mlflow/artifacts/list?run_id={run_id}")
    assert [f["path"] for f in listing["files"]] == ["bayes_optimal.json"]
    query = urllib.parse.urlencode({"path": "bayes_optimal.json", "run_uuid": run_id})
    with urllib.request.urlopen(f"{url}/get-artifact?{query}", timeout=30) as response:
        assert json.load(response) == bayes
