"""A fix for Snakemake's job scheduler: at most one pending re-scheduling pass.

Snakemake 9 (``snakemake.scheduling.job_scheduler.JobScheduler``) ends every scheduling pass
by starting a ``threading.Timer`` that wakes the scheduler again after the job-rate limit's
timespan (``--max-jobs-per-timespan``, default 100/1s). Every pass starts one, and every
finished job wakes the scheduler once more, so after k finished jobs k timers fire every
second, each firing a pass that re-evaluates every ready job's params and stats its inputs.
On the tiny configuration (158 jobs) the scheduler's own process spent 132 s of CPU, 1.2 s
per job, on a 2-core machine where that time is taken from the jobs; the timers also keep
the process alive up to one timespan after the last job.

:func:`limit_rescheduling` keeps one pending timer per scheduler (a pass that finds one
pending adds none: one early re-check serves them all) and makes it a daemon thread. Jobs
still start as soon as a core frees up (a finished job wakes the scheduler directly).
"""

from __future__ import annotations

import threading
from typing import Any

_PATCHED = "_mlhep_one_pending_pass"


def _schedule_once(scheduler: Any, delay: float) -> None:
    """Wake ``scheduler`` after ``delay`` seconds unless a wake-up is already pending."""
    lock = scheduler.__dict__.setdefault("_mlhep_wake_lock", threading.Lock())
    with lock:
        if scheduler.__dict__.get("_mlhep_wake_pending"):
            return
        scheduler._mlhep_wake_pending = True

    def wake() -> None:
        with lock:  # cleared first: the pass this wakes may ask for the next one
            scheduler._mlhep_wake_pending = False
        scheduler._open_jobs.release()

    timer = threading.Timer(delay, wake)
    timer.daemon = True
    timer.start()


setattr(_schedule_once, _PATCHED, True)


def limit_rescheduling(scheduler_class: type | None = None) -> bool:
    """Replace the scheduler's re-scheduling timer by :func:`_schedule_once`; return whether
    the method was found (an unknown Snakemake version is left as it is)."""
    if scheduler_class is None:
        from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
    method = getattr(scheduler_class, "_schedule_reevalutation", None)
    if method is None:
        return False
    if not getattr(method, _PATCHED, False):
        scheduler_class._schedule_reevalutation = _schedule_once
    return True
