"""Starting and stopping an MLflow tracking server (UI and REST API) as one process group.

``mlflow server`` is a launcher: it starts uvicorn (or gunicorn), which forks its workers,
and those outlive a plain kill of the launcher, keeping the port and the store open. So the
server is started as the leader of a new session (its own process group), and stopped by
signalling the whole group and waiting until no process of the group is left.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000

#: Environment defaults of a started server (a caller's ``env`` or this process's environment
#: override them): no telemetry (no network at run time), and no job runner, which would
#: start seven ``huey`` consumer processes for GenAI features (prompt optimization, scorers)
#: that the workflow does not use.
SERVER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


@dataclass(frozen=True)
class Server:
    """A started MLflow server: the launcher process (leader of its group) and its URL."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def pgid(self) -> int:
        """The process group of the launcher and every worker it started."""
        return self.process.pid


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port on ``host`` that nothing listens on now (for tests and side-by-side runs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_command(
    backend_store_uri: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    artifacts_destination: str | None = None,
    app_name: str | None = None,
    workers: int = 1,
    python: str = sys.executable,
) -> list[str]:
    """The ``mlflow server`` command line for a store.

    Artifacts are served by the server (``--serve-artifacts``) from ``artifacts_destination``
    (a path or URI), so clients need no access to the artifact storage. ``app_name`` is
    ``"basic-auth"`` for a server that asks for a user and password. One worker is enough to
    browse; a shared server takes more. Binds to loopback unless told otherwise.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    command = [python, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri]
    if artifacts_destination is not None:
        destination = str(artifacts_destination)
        if "://" not in destination:
            destination = Path(destination).resolve().as_uri()
        command += ["--serve-artifacts", "--artifacts-destination", destination]
    if app_name is not None:
        command += ["--app-name", app_name]
    command += ["--host", host, "--port", str(port), "--workers", str(workers)]
    return command


def server_url(host: str, port: int) -> str:
    """The base URL of a server listening on ``host:port`` (``http://host:port``)."""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}"


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``url`` answers ``/health`` (unauthenticated, also with auth)."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):  # URLError is an OSError
        return False


def start_server(
    command: Sequence[str],
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
) -> Server:
    """Start ``command`` in its own process group and wait until ``url`` answers ``/health``.

    ``env`` is added to this process's environment and :data:`SERVER_ENV` (credentials reach
    the server this way, never on its command line). The server's output goes to ``log``
    (appended) or, without one, to this process's stdout and stderr. Raises
    ``RuntimeError`` (after stopping the group) if the server exits or does not answer
    within ``timeout`` seconds.
    """
    full_env = {**SERVER_ENV, **os.environ, **(env or {})}
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log, "ab")) if log is not None else None
        process = subprocess.Popen(
            list(command),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )
    server = Server(process, url)
    try:
        wait_until_healthy(server, timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_healthy(server: Server, timeout: float = 120.0) -> None:
    """Poll ``/health`` until the server answers; raise ``RuntimeError`` if its launcher exits
    first or ``timeout`` seconds pass (a busy machine takes a while to import MLflow)."""
    deadline = time.monotonic() + timeout
    while True:
        if is_healthy(server.url):
            return
        code = server.process.poll()
        if code is not None:
            raise RuntimeError(f"MLflow server at {server.url} exited with status {code}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"MLflow server at {server.url} did not answer within {timeout} s")
        time.sleep(0.25)


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid``.

    Zombies are left out: they are dead and only wait for their parent to reap them.
    """
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return members


def stop_process_group(
    pgid: int, process: subprocess.Popen[bytes] | None = None, grace: float = 20.0
) -> None:
    """SIGTERM every process of group ``pgid``, SIGKILL what is left after ``grace`` seconds.

    ``process`` (the group's leader, if it is this process's child) is reaped. Raises
    ``RuntimeError`` if a process of the group is still alive afterwards.
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while True:
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.1)
            if not group_members(pgid):
                if process is not None:
                    process.wait(timeout=10)  # dead by now: reap it (no zombie, no warning)
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    raise RuntimeError(f"processes {group_members(pgid)} of group {pgid} survived SIGKILL")


def stop_server(server: Server, grace: float = 20.0) -> None:
    """Stop the server's whole process group (launcher and workers); see
    :func:`stop_process_group`."""
    stop_process_group(server.pgid, server.process, grace)


@contextlib.contextmanager
def running_server(
    command: Sequence[str],
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: str | os.PathLike[str] | None = None,
    timeout: float = 120.0,
) -> Iterator[Server]:
    """A server that answers on ``url`` for the ``with`` block and is stopped (the whole
    group) when the block ends, however it ends."""
    server = start_server(command, url, env=env, log=log, timeout=timeout)
    try:
        yield server
    finally:
        stop_server(server)
