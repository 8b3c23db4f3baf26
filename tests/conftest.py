"""Shared fixtures: the repository root and the configs shipped with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# no network at run time, in the tests and in every process they start
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (holds the Snakefile)."""
    return REPO


@pytest.fixture(scope="session")
def tiny(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory holding one complete run of ``config/test-tiny.yaml``."""
    from helpers import run_config

    workdir = tmp_path_factory.mktemp("tiny")
    run_config(repo, workdir, "test-tiny.yaml")
    return workdir


@pytest.fixture(scope="session")
def minimal(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory holding one run of ``config/test-minimal.yaml`` (stages off)."""
    from helpers import run_config

    workdir = tmp_path_factory.mktemp("minimal")
    run_config(repo, workdir, "test-minimal.yaml")
    return workdir
