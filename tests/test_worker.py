"""The warm worker (mlhep.worker): a job handed to it runs in a forked child with the job's
own streams, environment, directory and exit status; signals reach the child; a job whose
process dies takes its child with it; without a worker the job runs in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlhep import worker

#: What Snakemake's preamble does (``__real_file__`` is the file it wrote, ``__file__`` the
#: rule's script), then the hand-over, then a job whose behaviour the first argument picks.
JOB = """
__real_file__ = __file__; __file__ = '/workflow/scripts/probe.py';
import os, sys, time
from mlhep.worker import hand_over
hand_over()
mode = sys.argv[1]
print(f"pid={os.getpid()} ppid={os.getppid()} probe={os.environ.get('PROBE')} cwd={os.getcwd()}")
print("to stderr", file=sys.stderr)
sys.stdout.flush()
if mode == "exit3":
    sys.exit(3)
if mode == "raise":
    1 / 0
if mode == "blas":  # short threaded products between longer single-threaded work
    import numpy as np
    a = np.random.default_rng(0).normal(size=(300_000, 8))
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(60):
        a @ a[:8]
        np.sort(a[:, :3], axis=0)
    print(f"cpu_per_wall={(time.process_time() - cpu) / (time.perf_counter() - wall):.3f}")
if mode == "sleep":
    open("child.pid", "w").write(str(os.getpid()))
    time.sleep(30)
    open("survived", "w").write("yes")
"""
#: Light modules: these tests are about the hand-over, not the imports.
MODULES = ("json",)


def _wait_for(condition, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (fail after ``timeout`` s)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@contextmanager
def _serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: tuple[str, ...]
) -> Iterator[subprocess.Popen]:
    """A worker importing ``modules``, serving from this test's process, its socket named
    in the environment; stopped (and its socket's folder gone) on leaving."""
    monkeypatch.delenv(worker.SOCKET_ENV, raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(worker.SWITCH_ENV, "1")
    (tmp_path / ".snakemake").mkdir()
    process = worker.start(tmp_path, modules)
    assert process is not None
    _wait_for(lambda: os.path.exists(os.environ[worker.SOCKET_ENV]))
    folder = os.path.dirname(os.environ[worker.SOCKET_ENV])
    try:
        yield process
    finally:
        worker.stop(process)
    assert process.poll() is not None and not os.path.exists(folder)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen]:
    """A worker of light modules: these tests are about the hand-over."""
    with _serving(tmp_path, monkeypatch, MODULES) as process:
        yield process


def _job(tmp_path: Path, mode: str, **env: str) -> subprocess.Popen:
    """Start the probe job as Snakemake would (``python <file it wrote>``) in ``tmp_path``."""
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return subprocess.Popen(
        [sys.executable, str(script), mode],
        cwd=tmp_path,
        env={**os.environ, "PROBE": "from-the-job", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _fields(stdout: str) -> dict[str, str]:
    """The probe's ``key=value`` line."""
    return dict(item.split("=", 1) for item in stdout.splitlines()[0].split())


def test_a_handed_over_job_runs_in_a_child_with_its_streams_env_directory_and_status(
    tmp_path: Path, served: subprocess.Popen
) -> None:
    """The child, not the job's process, runs the script; it writes to the job's own
    streams, sees the job's environment and directory, and its exit status is the job's."""
    job = _job(tmp_path, "ok")
    out, err = job.communicate(timeout=60)
    assert job.returncode == 0, err
    fields = _fields(out)
    assert int(fields["ppid"]) == served.pid and int(fields["pid"]) != job.pid
    assert fields["probe"] == "from-the-job" and fields["cwd"] == str(tmp_path)
    assert "to stderr" in err
    job = _job(tmp_path, "exit3")
    job.communicate(timeout=60)
    assert job.returncode == 3
    job = _job(tmp_path, "raise")
    out, err = job.communicate(timeout=60)
    assert job.returncode == 1 and "ZeroDivisionError" in err
    assert int(_fields(out)["ppid"]) == served.pid
    log = (tmp_path / ".snakemake" / "warm-worker.log").read_text()
    assert log.count("/workflow/scripts/probe.py") == 3
    assert "ended: 0" in log and "ended: 3" in log and "ended: 1" in log


def test_a_signal_reaches_the_child_and_a_killed_job_takes_its_child(
    tmp_path: Path, served: subprocess.Popen
) -> None:
    """SIGTERM to the job's process (Snakemake cancelling it) ends the child and the job
    dies of it; a SIGKILLed job's child is killed by the worker, not left running."""
    pid_file = tmp_path / "child.pid"
    for signum in (signal.SIGTERM, signal.SIGKILL):
        pid_file.unlink(missing_ok=True)
        job = _job(tmp_path, "sleep")
        _wait_for(lambda: pid_file.exists() and pid_file.read_text() != "")
        child = int(pid_file.read_text())
        assert child != job.pid and _alive(child)
        job.send_signal(signum)
        job.communicate(timeout=10)
        assert job.returncode == -signum
        _wait_for(lambda child=child: not _alive(child), timeout=10)
    assert not (tmp_path / "survived").exists()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {worker.SWITCH_ENV: "0"},
        {"SLURM_JOB_ID": "42"},
        {worker.SOCKET_ENV: "/nonexistent/socket"},
    ],
    ids=["no worker", "switched off", "inside a SLURM job", "worker gone"],
)
def test_without_a_worker_the_job_runs_in_place(
    tmp_path: Path, served: subprocess.Popen, env: dict[str, str]
) -> None:
    """Where no worker may serve, the job's own process runs the script (as before)."""
    environment = dict(os.environ)  # names the worker that serves
    if not env:
        environment.pop(worker.SOCKET_ENV)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    job = subprocess.run(
        [sys.executable, str(script), "ok"],
        cwd=tmp_path,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert job.returncode == 0, job.stderr
    assert int(_fields(job.stdout)["ppid"]) != served.pid


def test_the_worker_ends_with_the_invocation_that_started_it(tmp_path: Path) -> None:
    """A worker whose Snakemake is gone (killed, say) does not stay behind."""
    (tmp_path / ".snakemake").mkdir()
    env = {k: v for k, v in os.environ.items() if k != worker.SOCKET_ENV}
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mlhep import worker; print(worker.start('.', ('json',)).pid)",
        ],
        cwd=tmp_path,
        env={**env, worker.SWITCH_ENV: "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(starter.stdout)
    _wait_for(lambda: "serving" in (tmp_path / ".snakemake" / "warm-worker.log").read_text())
    _wait_for(lambda: not _alive(pid), timeout=10)


def test_openblas_threads_in_a_child_sleep_between_products(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child forked from a worker that loaded NumPy's OpenBLAS uses about one core for
    mostly single-threaded work: OpenBLAS's idle thread busy-waited beside the job until
    the worker set ``OPENBLAS_THREAD_TIMEOUT`` (measured here on 2 cores: 1.99 cores' worth
    of CPU per second of wall without the setting, 1.16 with it)."""
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    with _serving(tmp_path, monkeypatch, ("numpy",)) as process:
        job = _job(tmp_path, "blas")
        out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    fields = dict(item.split("=", 1) for line in out.splitlines() for item in line.split())
    assert int(fields["ppid"]) == process.pid
    assert float(fields["cpu_per_wall"]) < 1.4, fields
