"""Shared fixtures: the repository root and the configs shipped with it, each run once per
session however many pytest-xdist workers share it; and the order and grouping in which
the workers take the tests."""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

import pytest

# no network at run time, in the tests and in every process they start
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

REPO = Path(__file__).resolve().parent.parent

#: Fixtures holding a whole Snakemake run: the tests that use one form one group, run by one
#: worker in turn, so that a test that changes the run's directory never races another.
SHARED_RUNS = ("tiny",)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (holds the Snakefile)."""
    return REPO


def shared_run(factory: pytest.TempPathFactory, name: str, config: str) -> Path:
    """A work directory holding one complete run of ``config/<config>``, made once for the
    whole session: the first worker to ask runs it under a file lock, the others wait and
    reuse it. A failed run fails every test that asks, with its log, and is not repeated."""
    from filelock import FileLock
    from helpers import run_config

    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, shared by the workers
    workdir, done, failed = root / name, root / f"{name}.done", root / f"{name}.failed"
    with FileLock(root / f"{name}.lock"):
        if failed.exists():
            pytest.fail(
                f"the shared {config} run failed (once, in another test):\n{failed.read_text()}"
            )
        if not done.exists():
            workdir.mkdir()
            try:
                run_config(REPO, workdir, config)
            except Exception as error:  # the failed run, or its timeout
                failed.write_text(f"{type(error).__name__}: {error}")
                raise
            done.touch()
    return workdir


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory holding one complete run of ``config/test-tiny.yaml``."""
    return shared_run(tmp_path_factory, "tiny", "test-tiny.yaml")


@pytest.fixture(scope="session")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory holding one run of ``config/test-minimal.yaml`` (stages off)."""
    return shared_run(tmp_path_factory, "minimal", "test-minimal.yaml")


@functools.cache
def _modules_using(fixture: str) -> frozenset[str]:
    """The test modules (as in node ids) with a function that takes ``fixture``, read from
    their source: pytest-xdist's controller schedules by node id and collects nothing."""
    modules = set()
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if function and fixture in {arg.arg for arg in node.args.args}:
                modules.add(path.relative_to(REPO).as_posix())
    return frozenset(modules)


def group_of(nodeid: str) -> str:
    """The scheduling group of a test: its module, or the shared run its module uses."""
    module = nodeid.split("::")[0]
    shared = [name for name in SHARED_RUNS if module in _modules_using(name)]
    return shared[0] if shared else module


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist=loadscope`` (the default here), pytest-xdist hands out whole groups
    (see :func:`group_of`): a module's fixtures are built once, and the tests that share a
    run run in turn on one worker, while the other worker takes the rest (the long SLURM
    run first). Another ``--dist`` is left to pytest-xdist."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first (a group's place is that of its first test, with
    ``--no-loadscope-reorder``): the real SLURM run, the tiny run's group (which starts
    the run), the other end-to-end runs, then the rest in their files' order; so no worker
    is left with a long test at the end."""

    def start_order(item: pytest.Item) -> int:
        if item.get_closest_marker("slurm"):
            return 0
        if group_of(item.nodeid) in SHARED_RUNS:
            return 1
        return 2 if item.get_closest_marker("workflow") else 3

    items.sort(key=start_order)
