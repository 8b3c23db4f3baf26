"""Logging for the workflow's scripts: everything a job prints, and its traceback if it
fails, goes to the rule's ``log:`` file."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path


def job_environment() -> str:
    """Where this job runs: the host, its SLURM job and the GPUs it may use.

    One line at the start of every rule's log, so that a cluster run shows which
    scheduler job ran each rule and that the GPU rules got their GPU (SLURM sets
    ``CUDA_VISIBLE_DEVICES`` only in jobs that requested one).
    """
    values = {
        name: os.environ.get(name, "unset") for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")
    }
    return " ".join([f"host={socket.gethostname()}", *(f"{k}={v}" for k, v in values.items())])


def _own_peak_mb() -> float:
    """This process image's peak resident memory: Linux's VmHWM, which starts afresh at
    exec. ``ru_maxrss`` does not: it keeps the forking parent's size (a job would report at
    least Snakemake's 250 MB), so it is only the fallback (kB on Linux, bytes on macOS).
    A job forked by the warm worker (:mod:`mlhep.worker`) counts the worker's imports it
    shares (about 400 MB, mostly not copied), as a job that imported them itself would."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def job_usage() -> str:
    """This process's CPU time and peak resident memory, its finished children's included.

    Read from the kernel when the job ends (free, unlike Snakemake's ``benchmark:``
    directive, which samples every job's process tree from the scheduler's own process,
    twice a second for a job's first 15 s); one line at the end of every rule's log.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    # a child's own ru_maxrss starts at this process's size when forked: never above ours
    peak_mb = max(_own_peak_mb(), children.ru_maxrss / 1024)
    return f"CPU {cpu:.1f} s, peak memory {peak_mb:.0f} MB"


@contextlib.contextmanager
def script_log(path: str | os.PathLike[str], name: str = "mlhep") -> Iterator[logging.Logger]:
    """Send stdout, stderr and a logger to ``path`` for the duration of a rule's script."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logger = logging.getLogger(name)
        logger.info("job environment: %s", job_environment())
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield logger
        except BaseException:
            stream.write(traceback.format_exc())
            raise
        else:
            logger.info("done in %.1f s (%s)", time.perf_counter() - start, job_usage())
        finally:
            root.removeHandler(handler)
            sys.stderr.flush()
