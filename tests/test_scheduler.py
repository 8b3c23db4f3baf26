"""The fix for Snakemake's re-scheduling timers (mlhep.scheduler), on a stand-in scheduler
and on Snakemake's own class."""

from __future__ import annotations

import threading
import time

from mlhep.scheduler import limit_rescheduling


class StandIn:
    """What the patched method touches of Snakemake's JobScheduler: the semaphore that wakes
    its loop, and the method itself (as Snakemake 9 spells it)."""

    def __init__(self) -> None:
        self._open_jobs = threading.Semaphore(0)

    def _schedule_reevalutation(self, delay: float) -> None:  # Snakemake's: one timer per call
        threading.Timer(delay, self._open_jobs.release).start()


def wakes(scheduler: StandIn) -> int:
    """How many wake-ups are waiting on the scheduler's semaphore (consumed)."""
    count = 0
    while scheduler._open_jobs.acquire(blocking=False):
        count += 1
    return count


def test_many_passes_leave_one_pending_wakeup_on_a_daemon_thread() -> None:
    assert limit_rescheduling(StandIn)
    scheduler = StandIn()
    before = threading.active_count()
    for _ in range(50):  # fifty scheduling passes within one timespan
        scheduler._schedule_reevalutation(0.2)
    assert threading.active_count() == before + 1
    assert all(t.daemon for t in threading.enumerate() if isinstance(t, threading.Timer))
    time.sleep(0.4)
    assert wakes(scheduler) == 1  # unpatched: 50, and 50 more every timespan after
    # the pass that wake-up runs asks for the next one, which is granted
    scheduler._schedule_reevalutation(0.05)
    time.sleep(0.2)
    assert wakes(scheduler) == 1


def test_patching_twice_is_harmless_and_snakemake_s_class_is_patched() -> None:
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert limit_rescheduling() and limit_rescheduling()
    assert JobScheduler._schedule_reevalutation.__module__ == "mlhep.scheduler"
    assert not limit_rescheduling(type("Other", (), {}))  # another version: left alone
