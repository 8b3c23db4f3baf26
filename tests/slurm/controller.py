"""Snakemake's command line for the test cluster's controller, polling SLURM at the
profile's ``seconds-between-status-checks`` all along.

The SLURM executor plugin (2.8) adds 10 s to the wait before its next status check after
each check that finds no job finished (up to 180 s): right for a shared controller, where
each check queries a busy ``slurmctld``, but on the test's one-node cluster, whose jobs
last seconds, it left each job's end unnoticed for up to 20 s, in a chain of a dozen jobs.
Everything else (submission, the status query, the jobs) is the plugin's, unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

from snakemake.cli import main
from snakemake_executor_plugin_slurm import Executor

_check_active_jobs = Executor.check_active_jobs


async def check_active_jobs(self: Executor, active_jobs: list[Any]) -> AsyncIterator[Any]:
    """The plugin's check, then the next wait back to the profile's interval."""
    async for job in _check_active_jobs(self, active_jobs):
        yield job
    self.next_seconds_between_status_checks = None


Executor.check_active_jobs = check_active_jobs

if __name__ == "__main__":
    sys.exit(main())
