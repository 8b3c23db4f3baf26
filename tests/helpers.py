"""Helpers shared by the end-to-end tests: the real Snakemake CLI on the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def snakemake(
    repo: Path, workdir: Path, *args: str, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run the real Snakemake CLI on the repository's Snakefile in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile")]
    cmd += ["--directory", str(workdir), *args]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=timeout)


def run_config(repo: Path, workdir: Path, config: str) -> subprocess.CompletedProcess:
    """Run a shipped config (``config/<config>``) on 2 cores; fail the test with the log."""
    proc = snakemake(repo, workdir, "--cores", "2", "--configfile", str(repo / "config" / config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


#: The generalization points of the reduced tiny config: one CPU, one GPU study.
REDUCED_STUDIES = {
    "polynomial_degree": {"degree": [6]},
    "bdt_capacity": {"max_depth": [2], "n_estimators": [5]},
}


def reduced_tiny_config(path: Path, models: dict[str, list[str]]) -> Path:
    """``config/test-tiny.yaml`` training only ``models`` (model -> feature sets) on the
    dimuon dataset alone, without the Iris lecture and the generative stage, and with one
    point of one CPU and one GPU generalization study (points of the full tiny run),
    written to ``path``: every kind of job in a fraction of the time, each shared job's
    results the same as the full tiny run's."""
    import yaml

    from mlhep.studies.generalization import STUDIES

    repo = Path(__file__).resolve().parent.parent
    config = yaml.safe_load((repo / "config/test-tiny.yaml").read_text())
    config["datasets"]["dimuon"]["models"] = models
    for name, dataset in config["datasets"].items():
        if name != "dimuon":
            dataset["activate"] = False
    config["lecture"] = {"perceptron_iris": {"activate": False}}
    config["generative"] = {"activate": False}
    studies = config["studies"]["generalization"]
    for study in STUDIES:
        studies.setdefault(study, {})["activate"] = study in REDUCED_STUDIES
    for study, grid in REDUCED_STUDIES.items():
        studies[study].update(grid)
    path.write_text(yaml.safe_dump(config))
    return path


def require(condition: bool, reason: str) -> None:
    """Skip a test whose system prerequisites are missing, saying how to enable it.

    In CI (``CI=true`` in the environment) the prerequisites are installed by ``.ci/run``,
    so a missing one is a failure, never a silent skip.
    """
    if condition:
        return
    import os

    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, but this test's prerequisites are missing: {reason}")
    pytest.skip(reason)
