"""A throwaway single-node SLURM cluster on this machine, for the cluster tests.

Debian's packages (``slurmctld``, ``slurmd``, ``slurm-client``, ``munge``) start nothing
on install and containers have no systemd, so the daemons are started here by hand, in
the foreground, each as a child process whose PID is kept: ``stop`` ends exactly those.
The config must live at ``/etc/slurm/slurm.conf`` (the executor plugin's job step drops
``SLURM_CONF``), so this needs root; a machine whose ``/etc/slurm`` holds a real cluster's
config is left alone. The node declares ``gpus`` GRES GPUs on stand-in device files: SLURM sets
``CUDA_VISIBLE_DEVICES`` in jobs that ask for one, which is what the tests check.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "slurm"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = Path("/etc/slurm/gres.conf")
MARKER = "# written by mlhep tests/slurmcluster.py"
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo", "munge", "unmunge")
PACKAGES = "slurmctld slurmd slurm-client munge"


def missing_prerequisites() -> str | None:
    """Why a local cluster cannot start here (``None``: it can), with what to do about it."""
    if os.geteuid() != 0:
        return (
            "needs root: it writes /etc/slurm/slurm.conf and starts slurmctld, slurmd and "
            f"munged (as root, on Debian/Ubuntu: apt-get install {PACKAGES}, then pytest -m slurm)"
        )
    missing = [
        name
        for name in DAEMONS + CLIENTS
        if not shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    ]
    if missing:
        return (
            f"SLURM or munge is not installed (missing {', '.join(missing)}): "
            f"apt-get install {PACKAGES}"
        )
    if not MUNGE_KEY.exists():
        return f"no munge key at {MUNGE_KEY}: reinstall munge or run mungekey --create"
    for path in (SLURM_CONF, GRES_CONF):
        if path.exists() and not path.read_text().startswith(MARKER):
            return (
                f"{path} belongs to a real SLURM installation here; "
                "the test cluster would replace it"
            )
    return None


def _sbin(name: str) -> str:
    """Full path of a daemon (``/usr/sbin`` is not on every root PATH)."""
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if not found:
        raise FileNotFoundError(name)
    return found


def _free_port() -> int:
    """A TCP port nobody listens on now (the daemons bind it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, what: str, timeout: float) -> None:
    """Poll ``check()`` until it is true; raise naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(0.5)


def _munge_works() -> bool:
    """Whether a munged answers on the default socket (credentials encode and decode)."""
    encode = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if encode.returncode != 0:
        return False
    decode = subprocess.run(["unmunge"], input=encode.stdout, capture_output=True, timeout=10)
    return decode.returncode == 0


def _daemon_env() -> dict[str, str]:
    """The environment for the daemons: no SLURM variables of a surrounding job."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}


@dataclass
class LocalSlurm:
    """A running single-node cluster: its files under ``root``, the daemons it started."""

    root: Path
    node: str
    gpus: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def jobcomp(self) -> Path:
        """SLURM's completion record: one ``key=value`` line per finished job."""
        return self.root / "jobcomp.txt"

    def command(self, *args: str, timeout: float = 30) -> str:
        """Run a SLURM client command against this cluster; its stdout (fails on error)."""
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still holds (finished ones for MinJobAge), as key=value maps."""
        out = self.command("scontrol", "show", "job", "--oneliner")
        if out.strip() == "No jobs in the system":
            return []
        return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines() if line]

    def completed(self) -> list[dict[str, str]]:
        """Every job in the completion record, as key=value maps."""
        if not self.jobcomp.exists():
            return []
        lines = self.jobcomp.read_text().splitlines()
        return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in lines if line]

    def diagnostics(self, lines: int = 40) -> str:
        """The last lines of the daemons' logs, for a failing test's message."""
        parts = []
        for name in ("slurmctld", "slurmd", "munged"):
            for path in (self.root / f"{name}.log", self.root / f"{name}.out"):
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-lines:]
                    parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, stop the daemons this cluster started (by PID), drop its config."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            try:
                ids = self.command("squeue", "--noheader", "--format=%i", timeout=15).split()
                if ids:
                    self.command("scancel", *ids, timeout=15)
                    _wait_for(
                        lambda: not self.command("squeue", "--noheader", "--format=%i").split(),
                        "cancelled jobs gone",
                        30,
                    )
            except (RuntimeError, TimeoutError, subprocess.TimeoutExpired):
                pass  # the daemons go anyway; their jobs die with slurmd's steps below
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.processes.clear()
        for path in (SLURM_CONF, GRES_CONF):
            if path.exists() and path.read_text().startswith(MARKER):
                path.unlink()


#: Stand-ins for GPU device files: character devices every Linux has.
GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")


def write_config(root: Path, node: str, *, cpus: int, memory_mb: int, gpus: int) -> None:
    """Write slurm.conf and gres.conf for a one-node cluster kept under ``root``."""
    values = {
        "root": str(root),
        "node": node,
        "ctld_port": _free_port(),
        "slurmd_port": _free_port(),
        "cpus": cpus,
        "memory_mb": memory_mb,
        "gpus": gpus,
        # one character device per GPU (SLURM refuses two GPUs on one file)
        "gres_lines": "\n".join(f"NodeName={node} Name=gpu File={f}" for f in GPU_FILES[:gpus]),
    }
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    for template, target in (("slurm.conf.in", SLURM_CONF), ("gres.conf.in", GRES_CONF)):
        text = Template((TEMPLATES / template).read_text()).substitute(values)
        target.write_text(text)


def start(
    root: Path,
    *,
    cpus: int | None = None,
    memory_mb: int = 16000,
    gpus: int = 1,
    timeout: float = 60,
) -> LocalSlurm:
    """Start munged (unless one already answers), slurmctld and slurmd; wait for an idle node.

    The node declares ``cpus`` (default: twice this machine's cores) and ``memory_mb``
    whatever the hardware has: a job here spends most of its time starting Python and
    Snakemake twice (batch script, then job step), waiting on the disk more than on a
    core, so twice as many one-thread jobs side by side finish the run sooner. On any
    failure everything already started is stopped again before the error is raised.
    """
    reason = missing_prerequisites()
    if reason:
        raise RuntimeError(reason)
    node = socket.gethostname().split(".")[0]
    cluster = LocalSlurm(root=root, node=node, gpus=gpus)
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cpus = cpus or 2 * (os.cpu_count() or 1)
    write_config(root, node, cpus=cpus, memory_mb=memory_mb, gpus=gpus)
    env = _daemon_env()

    def launch(name: str, args: list[str], **kwargs) -> None:
        with open(root / f"{name}.out", "w") as out:  # the child keeps its own copy
            cluster.processes[name] = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                **kwargs,
            )

    try:
        if not _munge_works():
            MUNGE_RUN.mkdir(mode=0o755, exist_ok=True)
            shutil.chown(MUNGE_RUN, "munge", "munge")
            launch("munged", [_sbin("munged"), "--foreground"], user="munge", group="munge")
            _wait_for(_munge_works, "munged answering", timeout)
        launch("slurmctld", [_sbin("slurmctld"), "-D", "-c", "-i"])
        launch("slurmd", [_sbin("slurmd"), "-D", "-N", node])

        def node_idle() -> bool:
            for name, proc in cluster.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited ({proc.returncode})\n{cluster.diagnostics()}"
                    )
            sinfo = subprocess.run(
                ["sinfo", "--noheader", "--nodes", node, "--format=%T"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            return sinfo.returncode == 0 and sinfo.stdout.strip() == "idle"

        _wait_for(node_idle, f"node {node} idle", timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
