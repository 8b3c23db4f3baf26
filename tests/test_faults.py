"""Faults: a job killed on its own (its run ended by the Snakefile's `onerror:`), and a run
killed with SIGKILL (the whole process group, as a crash or a power cut
would) at a training, an evaluation and the report resumes, by the README's two commands,
to the results of an uninterrupted run; a second invocation on the same directory stops
with a clear message. Real Snakemake, real jobs, a real MLflow store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import snakemake
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow

#: Where each kill lands: while the training's MLflow run is open, and once the evaluation
#: and the report have started (their logs exist).
KILL_POINTS = ("train", "evaluate", "report")
LOGS = {
    "evaluate": "results/logs/evaluate/dimuon/logistic/low.log",
    "report": "results/logs/render_report.log",
}


def _running_training(workdir: Path) -> bool:
    """Whether the store holds an open run of a training job (read with SQLite directly)."""
    store = workdir / "results/mlflow/mlflow.db"
    if not store.exists():
        return False
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1) as db:
            (n,) = db.execute(
                "SELECT count(*) FROM runs JOIN tags ON runs.run_uuid = tags.run_uuid "
                "WHERE runs.status = 'RUNNING' AND tags.key = 'snakemake_rule' "
                "AND tags.value = 'train'"
            ).fetchone()
    except sqlite3.Error:  # the store being written or not yet created
        return False
    return n > 0


def _training_process(workdir: Path) -> tuple[str, int] | None:
    """The open training run and the pid of the job that holds it (its ``mlhep.pid`` tag)."""
    store = workdir / "results/mlflow/mlflow.db"
    if not store.exists():
        return None
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1) as db:
            row = db.execute(
                "SELECT runs.run_uuid, pid.value FROM runs "
                "JOIN tags AS rule ON runs.run_uuid = rule.run_uuid "
                "JOIN tags AS pid ON runs.run_uuid = pid.run_uuid "
                "WHERE runs.status = 'RUNNING' AND rule.key = 'snakemake_rule' "
                "AND rule.value = 'train' AND pid.key = 'mlhep.pid'"
            ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else (row[0], int(row[1]))


def _ready(point: str, workdir: Path) -> bool:
    """Whether the run has reached a kill point."""
    if point == "train":
        return _running_training(workdir)
    return (workdir / LOGS[point]).exists()


def _config(path: Path) -> Path:
    """The minimal config with one classifier, its evaluation and the report."""
    repo = Path(__file__).resolve().parent.parent
    config = yaml.safe_load((repo / "config/test-minimal.yaml").read_text())
    config["datasets"]["dimuon"]["models"] = {"logistic": ["low"]}
    config["datasets"]["dimuon"]["limit"] = ["low"]
    config["models"]["logistic"] = {"activate": True}
    path.write_text(yaml.safe_dump(config))
    return path


def _command(repo: Path, workdir: Path, config: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(repo / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(config),
        *args,
    ]


def _kill_at(proc: subprocess.Popen, point: str, workdir: Path, timeout: float = 300) -> None:
    """SIGKILL the whole process group of ``proc`` as soon as it reaches ``point``."""
    deadline = time.monotonic() + timeout
    while not _ready(point, workdir):
        assert proc.poll() is None, f"the run ended before reaching the kill point {point}"
        assert time.monotonic() < deadline, f"no kill point {point} within {timeout} s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _results(workdir: Path) -> dict[str, object]:
    """What must not depend on an interruption: splits, predictions, metrics (less run ids)."""
    out: dict[str, object] = {}
    for path in sorted(workdir.glob("results/splits/dimuon/*.parquet")):
        out[path.name] = pd.read_parquet(path)
    models = workdir / "results/models/dimuon/logistic/low"
    out["predictions"] = pd.read_parquet(models / "predictions.parquet")
    for name in ("results/evaluation/dimuon/logistic/low/metrics.json",):
        metrics = json.loads((workdir / name).read_text())
        metrics.pop("mlflow_run_id")
        out[name] = metrics
    summary = pd.read_csv(workdir / "results/evaluation/summary.csv")
    out["summary"] = summary.drop(columns=[c for c in summary if "run_id" in c])
    return out


def test_a_killed_run_resumes_to_the_results_of_an_uninterrupted_one(
    repo: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path / "faults.yaml")
    reference = tmp_path / "reference"
    done = snakemake(repo, reference, "--cores", "2", "--configfile", str(config))
    assert done.returncode == 0, done.stdout + done.stderr

    work = tmp_path / "killed"
    # a job killed on its own while the invocation lives: Snakemake's `onerror:` ends the
    # run the job left open (a SIGKILL runs no handler in the job), before any new start
    proc = subprocess.Popen(
        _command(repo, work, config),
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    while (held := _training_process(work)) is None:
        assert proc.poll() is None and time.monotonic() < deadline, "no training run opened"
        time.sleep(0.02)
    run_id, pid = held
    os.kill(pid, signal.SIGKILL)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output
    store = json.loads((work / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    assert MlflowClient(store).get_run(run_id).info.status == "KILLED", output

    resume: tuple[str, ...] = ()
    left = {}
    for point in KILL_POINTS:
        proc = subprocess.Popen(
            _command(repo, work, config, *resume),
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the kill takes every job
        )
        _kill_at(proc, point, work)
        # what the kill left: never a finished-looking file of the killed job, at most
        # its temporary files beside its outputs
        left[point] = {
            "temporary files": sorted(p.name for p in work.rglob(".*.tmp*")),
            "open runs": _running_training(work),
        }
        # a plain restart is refused on the stale lock, saying what to do
        again = subprocess.run(
            _command(repo, work, config), cwd=repo, capture_output=True, text=True
        )
        assert again.returncode != 0 and "--unlock" in again.stdout + again.stderr, point
        unlock = subprocess.run(
            _command(repo, work, config, "--unlock"), cwd=repo, capture_output=True, text=True
        )
        assert unlock.returncode == 0, unlock.stdout + unlock.stderr
        resume = ("--rerun-incomplete",)

    # the last resume runs to the end; a second invocation meanwhile is refused
    proc = subprocess.Popen(
        _command(repo, work, config, *resume),
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any((work / ".snakemake/locks").glob("*")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run(_command(repo, work, config), cwd=repo, capture_output=True, text=True)
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output
    assert second.returncode != 0
    assert "cannot be locked" in second.stdout + second.stderr

    # the same results as the uninterrupted run
    got, expected = _results(work), _results(reference)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got[key], value, obj=key)
        else:
            assert got[key] == value, key
    assert (work / "results/report/report.html").stat().st_size > 0

    # MLflow: nothing left RUNNING; the killed jobs' runs ended KILLED, the re-runs FINISHED
    uri = json.loads((work / "results/mlflow/experiments.json").read_text())["tracking_uri"]
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    statuses = {r.info.status for r in runs}
    assert "RUNNING" not in statuses, [(r.info.run_name, r.info.status) for r in runs]
    record = json.loads((work / "results/models/dimuon/logistic/low/train.json").read_text())
    resumed = client.get_run(record["mlflow_run_id"])
    assert resumed.info.status == "FINISHED"
    # the resumed run holds the uninterrupted run's metrics (its timings aside)
    reference_record = json.loads(
        (reference / "results/models/dimuon/logistic/low/train.json").read_text()
    )
    reference_uri = json.loads((reference / "results/mlflow/experiments.json").read_text())
    uninterrupted = MlflowClient(reference_uri["tracking_uri"]).get_run(
        reference_record["mlflow_run_id"]
    )

    def untimed(metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if not k.endswith("seconds")}

    assert untimed(resumed.data.metrics) == untimed(uninterrupted.data.metrics)
    assert len(untimed(resumed.data.metrics)) > 10  # the evaluation's metrics among them
    trainings = [r for r in runs if r.data.tags.get("snakemake_rule") == "train"]
    assert {r.info.status for r in trainings} == {"KILLED", "FINISHED"}, left
    assert len([r for r in trainings if r.info.status == "KILLED"]) >= 2  # onerror's among them
    print(f"left by each kill: {left}; training runs: {[r.info.status for r in trainings]}")
