"""A warm worker for the workflow's jobs: one process per local Snakemake invocation that
has imported what the jobs import (MLflow and its SQL store, pandas, SciPy, matplotlib,
PyTorch, XGBoost, scikit-learn, the library) and forks a child for each job.

A job's own interpreter then pays only Python's start and Snakemake's preamble (about
0.4 s) instead of its imports (3-8 s: ``import mlflow`` alone takes 1-3 s), which for most
of the workflow's jobs is more than their work. The job's script calls :func:`hand_over`
first thing; when a worker serves, the job's process sends it its working directory,
environment, arguments and standard streams (the descriptors themselves, over a Unix
socket) as it connects, the worker forks at once, and the child reads the request and
runs the very script file Snakemake wrote (the preamble included) as the job's interpreter
would have. The job's process waits,
forwards signals to the child and exits with the child's status, so Snakemake sees the
job as before: its log, its outputs, its exit code, its MLflow run (whose ``mlhep.pid``
tag names the child).

Where no worker serves, :func:`hand_over` returns at once and the job runs in its own
process as before: under a cluster executor (a job inside SLURM must stay inside its
allocation, so a ``SLURM_JOB_ID`` always runs in place), on a dry run, before the worker
has finished its imports, after it died, off Linux, in an invocation of fewer than
:data:`MIN_JOBS` jobs, or when ``MLHEP_WARM_WORKER=0`` switches it off.

Fork safety: the worker imports modules and opens nothing (no store, no Python thread, no
CUDA context); :func:`serve` refuses to serve if an import started a thread (OpenBLAS shuts its
own pool down around a fork and restarts it in the child; :data:`WORKER_ENV` keeps that
pool from spinning). The child resets the signal
handlers, adopts the job's environment before any library reads it (thread pools and CUDA
start lazily, in the child) and runs the interpreter's exit handlers.

Results: every child starts from the same state (the worker's after its imports), so a run
is reproducible as before. They equal a fresh interpreter's but for the last bit of a sum
whose SIMD path depends on where the heap put an array: of the tiny run's results one
value (a ridge MSE of the random-features study) differs, in its 17th digit.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

#: The environment variable naming the worker's socket; jobs inherit it from Snakemake.
SOCKET_ENV = "MLHEP_WORKER_SOCKET"
#: ``MLHEP_WARM_WORKER=0`` (or ``false``/``no``/``off``) runs every job in its own process.
SWITCH_ENV = "MLHEP_WARM_WORKER"
#: What the worker imports once; a child finds them in ``sys.modules``. Heaviest first:
#: where the worker is still importing, jobs run in place.
PRELOAD = (
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.pyfunc",
    "torch",
    "xgboost",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "scipy.optimize",
    "sklearn.metrics",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "matplotlib.pyplot",
    "uproot",
    "snakemake.script",
    "mlhep.tracking",
    "mlhep.models.training",
    "mlhep.evaluation.classification",
    "mlhep.evaluation.figures",
    "mlhep.studies.generalization",
)
#: An invocation of fewer jobs runs them in place: the worker's imports (about 9 s of one
#: core, beside the first jobs) would cost more than the jobs it could still serve save.
MIN_JOBS = 10
#: Set for the worker where the user has not: its libraries read them when they load, so
#: every child inherits them. OpenBLAS's idle thread busy-waits after each threaded
#: product before it sleeps; in the worker's children it did so through the whole job
#: (the limit job: 48.9 s of CPU in 27.7 s of wall, against 30.4 s in 27.1 s in its own
#: process), a core's worth taken from the job beside it. 2**4 cycles of that, not 2**28.
WORKER_ENV = {"OPENBLAS_THREAD_TIMEOUT": "4"}
#: Set in a forked child: its script's :func:`hand_over` must run the job, not hand it on.
_IN_CHILD = False
_MAX_REQUEST = 1 << 20
#: A child's exit status when it could not read its job's request.
_REFUSED = 97


def enabled() -> bool:
    """Whether jobs may be handed to a warm worker: ``MLHEP_WARM_WORKER``, on by default
    on Linux; elsewhere off (macOS's system libraries are not safe to use in a child
    forked without exec, which is why Python's multiprocessing spawns there)."""
    default = "1" if sys.platform.startswith("linux") else "0"
    return os.environ.get(SWITCH_ENV, default).strip().lower() not in {"0", "false", "no", "off"}


# --- the job's side -------------------------------------------------------------------


def hand_over() -> None:
    """Run this Snakemake job in the invocation's warm worker, if one serves, and exit with
    its status; return at once (the job then runs here) where none does.

    Called first thing in a rule's script, before its imports: a script run by Snakemake
    carries ``__real_file__`` (the file Snakemake wrote, preamble and all), which the worker's
    child runs as this process would have.
    """
    if _IN_CHILD or not enabled() or os.environ.get("SLURM_JOB_ID"):
        return
    address = os.environ.get(SOCKET_ENV)
    script = getattr(sys.modules["__main__"], "__real_file__", None)
    if not address or not script:
        return
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
        request = {
            "script": os.path.abspath(script),
            "cwd": os.getcwd(),
            "argv": sys.argv,
            "env": dict(os.environ),
        }
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reader = connection.makefile("rb")
        line = reader.readline()
    except OSError:  # not (or no longer) listening: run here
        connection.close()
        return
    if not line.startswith(b"pid "):  # no child took the job (it could not read it)
        connection.close()
        return
    child = int(line.split()[1])
    _forward_signals(child)
    status = reader.readline()  # "exit <code>" once the child has ended
    connection.close()
    # no status: the worker died with the child (its invocation was killed), a failure
    _exit_like(int(status.split()[1]) if status.startswith(b"exit ") else 1)


def _forward_signals(child: int) -> None:
    """Pass the signals a job receives (Snakemake's cancel, a terminal's Ctrl-C) to its child."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)


def _exit_like(code: int) -> None:
    """Exit with the child's status: its exit code, or death by the same signal."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1)  # the signal is delivered; only an ignored one could get here
        code = 128 - code
    os._exit(code)


# --- the worker's side ----------------------------------------------------------------


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import what the jobs import; return the modules that could not be imported."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # an optional library absent: its jobs import it themselves
            missing.append(name)
    return missing


def serve(address: str, parent: int, modules: tuple[str, ...] = PRELOAD) -> None:
    """Import ``modules``, then fork a child for each job that connects to ``address``,
    until the process ``parent`` (the Snakemake invocation) is gone or SIGTERM arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the jobs
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    preload(modules)
    if threading.active_count() > 1:  # forking would copy a thread's locks, not the thread
        print(f"warm worker: an import started threads {threading.enumerate()}; not serving")
        return
    sys.stdout.flush()
    sys.stderr.flush()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".bind")
    listener.listen(64)
    os.replace(address + ".bind", address)  # clients see the address only once it listens
    print(f"{time.strftime('%H:%M:%S')} serving invocation {parent} at {address}", flush=True)
    jobs: dict[socket.socket, int] = {}  # connection -> child
    try:
        while not stopping and os.getppid() == parent:
            readable, _, _ = select.select([listener, *jobs], [], [], 0.2)
            for ready in readable:
                if ready is listener:
                    _start(listener, jobs)
                elif _closed(ready):  # the job's process is gone: so goes its child
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(jobs[ready], signal.SIGKILL)
            _reap(jobs)
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        for child in jobs.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)


def _start(listener: socket.socket, jobs: dict[socket.socket, int]) -> None:
    """Accept one job and fork its child at once: the child, not the worker, reads the
    request, so every child starts from the worker's state after its imports (the worker
    allocates nothing per job that could move a child's memory layout, and with it the
    last bits of an alignment-dependent sum)."""
    connection, _ = listener.accept()
    child = os.fork()
    if child == 0:
        _run_child(connection, listener, list(jobs))
    jobs[connection] = child


def _job_name(request: dict) -> str:
    """The script a job runs, for the worker's log (Snakemake's preamble names it)."""
    with contextlib.suppress(OSError), open(request["script"]) as script:
        for line in script:
            if "__file__ = " in line:
                return line.rsplit("__file__ = ", 1)[1].split(";")[0].strip("'\"")
    return request["script"]


def _reap(jobs: dict[socket.socket, int]) -> None:
    """Tell each job whose child has ended its status and forget it."""
    for connection, child in list(jobs.items()):
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pid, status = child, 1 << 8
        if pid == 0:
            continue
        code = os.waitstatus_to_exitcode(status)
        print(f"{time.strftime('%H:%M:%S')} job {child} ended: {code}", flush=True)
        with contextlib.suppress(OSError):
            connection.sendall(f"exit {code}\n".encode())
        connection.close()
        del jobs[connection]


def _closed(connection: socket.socket) -> bool:
    """Whether the job at the other end has closed its connection. Never blocks: the
    request that made the connection readable may have been taken by the child meanwhile
    (the child shares the connection and reads it)."""
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    """A job's request (JSON, one line) and its three standard streams."""
    connection.settimeout(5)  # a job sends its request at once
    message, fds, _, _ = socket.recv_fds(connection, _MAX_REQUEST, 3)
    while not message.endswith(b"\n"):
        more = connection.recv(_MAX_REQUEST)
        if not more:
            raise ValueError("truncated request")
        message += more
    if len(fds) != 3:
        raise ValueError("a job sends its three standard streams")
    connection.settimeout(None)
    return json.loads(message), fds


def _run_child(
    connection: socket.socket, listener: socket.socket, others: list[socket.socket]
) -> None:
    """In the forked child: take the job's request, become its process and run its
    script; never returns. A request it cannot read ends it before it says its pid (the
    job then runs in place)."""
    global _IN_CHILD
    code = 1
    try:
        _IN_CHILD = True
        listener.close()
        for other in others:
            other.close()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            request, fds = _receive(connection)
        except (OSError, ValueError):
            os._exit(_REFUSED)
        print(f"{time.strftime('%H:%M:%S')} job {os.getpid()}: {_job_name(request)}", flush=True)
        connection.sendall(f"pid {os.getpid()}\n".encode())
        connection.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(SOCKET_ENV, None)  # the job, and whatever it starts, runs here
        sys.argv = list(request["argv"])
        try:
            runpy.run_path(request["script"], run_name="__main__")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


# --- the invocation's side ------------------------------------------------------------


def start(
    workdir: str | os.PathLike[str] = ".", modules: tuple[str, ...] = PRELOAD
) -> subprocess.Popen | None:
    """Start the warm worker of this Snakemake invocation (from its ``onstart:``) and set
    the environment its jobs inherit; nothing where it is switched off, or where the
    environment already names a worker that listens (one a benchmark started)."""
    if not enabled():
        return None
    given = os.environ.get(SOCKET_ENV)
    if given and os.path.exists(given):
        return None
    folder = tempfile.mkdtemp(prefix="mlhep-worker-")  # short: a socket path has 108 bytes
    address = os.path.join(folder, "socket")
    # appended to: a resumed run's workers follow the first's
    log = open(Path(workdir) / ".snakemake" / "warm-worker.log", "a")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "mlhep.worker", address, str(os.getpid()), *modules],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        close_fds=True,
        env={**WORKER_ENV, **os.environ},
    )
    log.close()
    os.environ[SOCKET_ENV] = address
    return process


def stop(process: subprocess.Popen | None) -> None:
    """End the worker that :func:`start` started (from ``onsuccess:``/``onerror:``) and
    remove its socket's folder; a worker it did not start is left alone."""
    if process is None:
        return
    address = os.environ.pop(SOCKET_ENV, None)
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    if address:
        with contextlib.suppress(OSError):
            os.unlink(address)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(address))


if __name__ == "__main__":
    # serve as the importable module: the scripts a child runs import mlhep.worker and
    # must find it marked as the child's (this file run as __main__ is another module)
    from mlhep import worker

    worker.serve(sys.argv[1], int(sys.argv[2]), tuple(sys.argv[3:]) or PRELOAD)
