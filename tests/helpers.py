"""Helpers shared by the end-to-end tests: the real Snakemake CLI on the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The longest a Snakemake run of a test may take (seconds; ``MLHEP_TEST_RUN_TIMEOUT``): six
#: times the tiny run's 8 minutes on 2 cores, so that a slow machine is not an error in
#: every test that shares the run, while a hung run still ends.
RUN_TIMEOUT = int(os.environ.get("MLHEP_TEST_RUN_TIMEOUT", "3000"))


def snakemake(
    repo: Path,
    workdir: Path,
    *args: str,
    timeout: int | None = None,
    env: dict[str, str] | None = None,
    launcher: tuple[str, ...] = ("-m", "snakemake"),
) -> subprocess.CompletedProcess:
    """Run the real Snakemake CLI on the repository's Snakefile in ``workdir`` (``env``:
    variables set on top of the test's environment; ``launcher``: what the interpreter
    runs, a script that calls Snakemake's CLI in place of ``-m snakemake``)."""
    cmd = [sys.executable, *launcher, "--snakefile", str(repo / "Snakefile")]
    cmd += ["--directory", str(workdir), *args]
    return subprocess.run(
        cmd,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout or RUN_TIMEOUT,
        env={**os.environ, **(env or {})},
    )


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
    # one search where the BDT on `low` is trained anyway (its two workers sharing the
    # study), else none
    tuning = config["studies"]["tuning"]
    tuning["searches"] = {"bdt": ["low"]}
    tuning["activate"] = "low" in models.get("bdt", [])
    studies = config["studies"]["generalization"]
    for study in STUDIES:
        studies.setdefault(study, {})["activate"] = study in REDUCED_STUDIES
    for study, grid in REDUCED_STUDIES.items():
        studies[study].update(grid)
    path.write_text(yaml.safe_dump(config))
    return path


def require(condition: bool, reason: str) -> None:
    """Skip a test whose system prerequisites are missing, saying how to enable it.

    In CI (``CI`` set in the environment, to ``true`` or ``1`` as CI services do; unset,
    empty, ``0``, ``false`` or ``no`` is not CI) the prerequisites are installed by
    ``.ci/run``, so a missing one is a failure, never a silent skip.
    """
    if condition:
        return
    import pytest

    if in_ci():
        pytest.fail(f"running in CI, but this test's prerequisites are missing: {reason}")
    pytest.skip(reason)


def in_ci() -> bool:
    """Whether the environment says this is a CI run (``CI`` set, and not to a false value)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def assert_same_events_up_to_rotation(back: Any, events: Any, tolerance: float) -> None:
    """Decoded low-level features equal the events' except for one rotation about the beam
    per event: pT, eta, met and n_jets equal, azimuths relative to the mu-'s equal."""
    import numpy as np

    for column in ("mu_minus_pt", "mu_minus_eta", "mu_plus_pt", "mu_plus_eta", "met"):
        np.testing.assert_allclose(back[column], events[column], rtol=tolerance, atol=tolerance)
    np.testing.assert_array_equal(back["n_jets"], events["n_jets"])  # dequantised, floored
    for column in ("mu_plus_phi", "met_phi"):
        diff = np.angle(np.exp(1j * (np.asarray(back[column]) - back["mu_minus_phi"])))
        true = np.angle(np.exp(1j * (np.asarray(events[column]) - events["mu_minus_phi"])))
        np.testing.assert_allclose(diff, true, atol=tolerance)


def copy_run(source: Path, target: Path) -> Path:
    """A copy of the finished run in ``source`` at ``target`` that Snakemake sees as up to
    date (modification times kept) and whose jobs log to the copy's own MLflow store: the
    store's absolute locations (the record's tracking URI, the experiments' and runs'
    artifact locations) are moved to the copy, the record keeping its modification time."""
    import shutil
    import sqlite3

    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    old, new = str(source.resolve()), str(target.resolve())
    record = target / "results/mlflow/experiments.json"
    stat = record.stat()
    record.write_text(record.read_text().replace(old, new))
    os.utime(record, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with sqlite3.connect(target / "results/mlflow/mlflow.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    name = column[1]
                    db.execute(
                        f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                        f'WHERE "{name}" LIKE ?',
                        (old, new, f"%{old}%"),
                    )
    return target


def file_states(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` (paths relative to it, those starting with a prefix in
    ``skip`` left out) with its modification time in ns and the SHA-256 of its bytes."""
    import hashlib

    states = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and not name.startswith(skip):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            states[name] = (path.stat().st_mtime_ns, digest)
    return states
