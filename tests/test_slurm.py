"""Cluster runs: the SLURM profiles, and the tiny workflow on a real one-node SLURM.

The profile tests only read the profiles (a dry run). The cluster test starts slurmctld,
slurmd and munged on this machine (``tests/slurmcluster.py``; root and Debian's packages
needed), runs ``config/test-tiny.yaml`` with three of its models (every kind of job)
through ``profiles/slurm`` plus the test cluster's site profile (``tests/slurm/profile``),
and checks the scheduler's view of every job, the GPU requests, and that the outputs equal
a local run's. Its controller (``tests/slurm/controller.py``) is Snakemake's CLI with the
plugin's status checks kept at the profile's 2 s, where the plugin backs off by 10 s a check.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import slurmcluster
from helpers import reduced_tiny_config, require, snakemake

from mlhep.runlog import job_environment

GPU_RULES = {"train_gpu", "ensemble", "generalization_point_gpu", "tune_worker", "tune_best"}
TEST_PROFILE = Path(__file__).resolve().parent / "slurm" / "profile"
CONTROLLER = TEST_PROFILE.parent / "controller.py"


def _profile_args(repo: Path, site: Path) -> list[str]:
    """The documented cluster command line: the slurm profile, a site profile, no local one."""
    return ["--profile", str(repo / "profiles/slurm"), "--profile", str(site)]


def _dry_run_resources(repo: Path, workdir: Path, site: Path) -> dict[str, set[str]]:
    """Rule name -> the resource strings Snakemake would give its jobs under the profiles."""
    proc = snakemake(
        repo,
        workdir,
        *_profile_args(repo, site),
        "--workflow-profile",
        "none",
        "--configfile",
        str(repo / "config/test-tiny.yaml"),
        "--dry-run",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources: dict[str, set[str]] = {}
    rule = None
    for line in proc.stdout.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):", line):
            rule = match.group(1)
        elif rule and (match := re.match(r"\s+resources: (.*)", line)):
            resources.setdefault(rule, set()).add(match.group(1))
    return resources


@pytest.mark.workflow
@pytest.mark.parametrize("site", ["profiles/site-example", "tests/slurm/profile"])
def test_profiles_give_gpu_rules_a_gpu_and_site_settings(
    repo: Path, tmp_path: Path, site: str
) -> None:
    """The GPU switch reaches exactly the GPU rules; a site's partition reaches every job."""
    resources = _dry_run_resources(repo, tmp_path, repo / site)
    assert set(resources) >= GPU_RULES, sorted(resources)
    for rule, strings in resources.items():
        for text in strings:
            assert ("gpu=1" in text.split(", ")) == (rule in GPU_RULES), (rule, text)
            assert "slurm_partition=" in text, (rule, text)
            assert ("gpu_model=" in text) == (rule in GPU_RULES and "example" in site), text


def test_job_environment_names_slurm_job_and_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert job_environment().endswith(" SLURM_JOB_ID=42 CUDA_VISIBLE_DEVICES=0,1")
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert job_environment().endswith(" SLURM_JOB_ID=unset CUDA_VISIBLE_DEVICES=unset")


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurmcluster.LocalSlurm]:
    """A one-node SLURM with two device-less GRES GPUs (so that GPU jobs, one GPU each, run
    side by side as on a real GPU node), stopped (by PID) after the module."""
    reason = slurmcluster.missing_prerequisites()
    require(
        reason is None,
        f"a local SLURM cluster cannot start: {reason}. On a Debian/Ubuntu machine where "
        f"you are root: apt-get install {slurmcluster.PACKAGES}; then pytest -m slurm",
    )
    cluster = slurmcluster.start(tmp_path_factory.mktemp("slurm"), gpus=2)
    try:
        yield cluster
    finally:
        cluster.stop()


def _rule_of(comment: str) -> str:
    """The rule name in the plugin's job comment ``rule_<name>[_wildcards_<values>]``."""
    return comment.strip("'").removeprefix("rule_").split("_wildcards_")[0]


@pytest.mark.workflow
@pytest.mark.slurm
def test_tiny_workflow_on_slurm_equals_local_run(
    repo: Path,
    slurm_cluster: slurmcluster.LocalSlurm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # the controller runs outside any SLURM job and sees no GPU of its own
    for name in list(os.environ):
        if name.startswith(("SLURM_", "SBATCH_", "SRUN_")) or name == "CUDA_VISIBLE_DEVICES":
            monkeypatch.delenv(name)
    # the tiny config with fewer models (every kind of job, a third of the jobs): the
    # results of the jobs it shares with the local tiny run must be the same
    models = {"logistic": ["low"], "bdt": ["low", "high"], "ann": ["high"]}
    config_file = reduced_tiny_config(tmp_path / "slurm-tiny.yaml", models)
    start = time.monotonic()
    proc = snakemake(
        repo,
        tmp_path,
        *_profile_args(repo, TEST_PROFILE),
        "--workflow-profile",
        "none",
        "--configfile",
        str(config_file),
        "--verbose",  # the plugin prints each sbatch call
        timeout=1200,
        launcher=(str(CONTROLLER),),  # Snakemake's CLI, polling every 2 s without back-off
    )
    wall = time.monotonic() - start
    output = proc.stdout + proc.stderr
    context = output[-6000:] + "\n" + slurm_cluster.diagnostics()
    assert proc.returncode == 0, context

    # 1. every job of the run is a SLURM job, and SLURM ran each to completion
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    total = int(re.search(r"^total\s+(\d+)", output, flags=re.M).group(1))
    assert len(submitted) == total - 1, context  # all but the target rule `all`
    jobs = {job["JobId"]: job for job in slurm_cluster.jobs()}
    assert set(jobs) == set(submitted.values())
    assert {job["JobState"] for job in jobs.values()} == {"COMPLETED"}
    assert {job["ExitCode"] for job in jobs.values()} == {"0:0"}
    assert len({job["JobName"] for job in jobs.values()}) == 1  # one run, one name
    record = {job["JobId"]: job for job in slurm_cluster.completed()}
    assert set(record) == set(jobs) and {r["JobState"] for r in record.values()} == {"COMPLETED"}

    # 2. the GPU rules asked SLURM for a GPU (sbatch --gpus=1), the others did not
    calls = re.findall(r"sbatch call: (sbatch .*?--wrap=)", output)
    assert len(calls) == len(jobs)
    for call in calls:
        rule = _rule_of(re.search(r"--comment (\S+)", call).group(1))
        assert ("--gpus=1" in call) == (rule in GPU_RULES), call
    for job in jobs.values():
        gpu = job.get("TresPerJob", "(null)") == "gres:gpu:1"
        assert gpu == (_rule_of(job["Comment"]) in GPU_RULES), job

    # 3. ... and saw it: each rule's log names its SLURM job and CUDA_VISIBLE_DEVICES
    seen = {}
    for log in (tmp_path / "results/logs").rglob("*.log"):
        rule = log.relative_to(tmp_path / "results/logs").parts[0].removesuffix(".log")
        match = re.search(r"SLURM_JOB_ID=(\S+) CUDA_VISIBLE_DEVICES=(\S+)", log.read_text())
        assert match, log
        job_id, devices = match.groups()
        assert job_id in jobs and _rule_of(jobs[job_id]["Comment"]) == rule, (log, job_id)
        # a GPU job sees the one GPU that SLURM gave it (of the node's two), no other job any
        assert devices in ({"0", "1"} if rule in GPU_RULES else {"unset"}), (log, devices)
        seen[job_id] = rule
    assert set(seen.values()) >= GPU_RULES

    # 4. the same results as the local run of the same config (asked for only now: another
    # worker makes it meanwhile)
    tiny = request.getfixturevalue("tiny")
    for split in ("train", "validation", "test"):
        rel = f"results/splits/dimuon/{split}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / rel), pd.read_parquet(tiny / rel))
    predictions = sorted(
        p.relative_to(tmp_path) for p in tmp_path.glob("results/models/*/*/*/*.parquet")
    )
    assert len(predictions) == 4
    for rel in predictions:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / rel), pd.read_parquet(tiny / rel))
    for metrics in sorted(tmp_path.glob("results/evaluation/*/*/*/metrics.json")):
        rel = metrics.relative_to(tmp_path)
        local, cluster = (json.loads((d / rel).read_text()) for d in (tiny, tmp_path))
        local.pop("mlflow_run_id", None), cluster.pop("mlflow_run_id", None)
        assert cluster == local, rel

    # 5. the search's two workers were two scheduler jobs sharing one study
    folder = tmp_path / "results/tuning/dimuon/bdt/low"
    workers = [json.loads(p.read_text()) for p in sorted((folder / "workers").glob("*.json"))]
    worker_jobs = [w["slurm_job_id"] for w in workers]
    assert len(set(worker_jobs)) == 2 and set(worker_jobs) <= set(jobs), worker_jobs
    assert {_rule_of(jobs[j]["Comment"]) for j in worker_jobs} == {"tune_worker"}
    summary = json.loads((folder / "summary.json").read_text())
    numbers = sorted(t["number"] for w in workers for t in w["trials"])
    assert numbers == list(range(summary["trials"])) and summary["complete"] >= 1
    assert summary["slurm_jobs"] == sorted(worker_jobs)
    per_worker = {w["worker"]: len(w["trials"]) for w in workers}

    n_gpu = sum(rule in GPU_RULES for rule in seen.values())
    print(f"{len(jobs)} SLURM jobs ({n_gpu} with a GPU), all COMPLETED, in {wall:.0f} s")
    print(f"search: trials per worker {per_worker}, worker jobs {worker_jobs}")
