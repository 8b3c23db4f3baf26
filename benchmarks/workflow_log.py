"""Where a workflow run's time went, read from its Snakemake log (prints; not a test).

Per rule: the jobs, the sum of their wall times and the median; then the critical path, the
chain of jobs (each needing an output of the one before) whose wall times add up to the
most: no number of cores makes the run shorter than that.

Usage: python benchmarks/workflow_log.py .snakemake/log/<run>.snakemake.log [--top 12]
"""

from __future__ import annotations

import argparse
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


@dataclass
class Job:
    """One job of the log: its rule, files, and when it started and finished."""

    rule: str
    start: datetime
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    end: datetime | None = None

    @property
    def seconds(self) -> float:
        """Its wall time (the log's stamps are whole seconds)."""
        return (self.end - self.start).total_seconds() if self.end else 0.0


def parse(path: Path) -> dict[int, Job]:
    """Every finished job of a Snakemake log, by job id."""
    jobs: dict[int, Job] = {}
    stamp: datetime | None = None
    current: Job | None = None
    for line in path.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match[1], "%a %b %d %H:%M:%S %Y")
        elif (match := RULE.match(line)) and stamp is not None:
            current = Job(match[1], stamp)
        elif current is not None and line.startswith("    input: "):
            current.inputs = line.removeprefix("    input: ").split(", ")
        elif current is not None and line.startswith("    output: "):
            current.outputs = line.removeprefix("    output: ").split(", ")
        elif current is not None and line.startswith("    jobid: "):
            jobs[int(line.split()[-1])] = current
            current = None
        elif (match := FINISHED.match(line)) and stamp is not None and int(match[1]) in jobs:
            jobs[int(match[1])].end = stamp
    return {k: j for k, j in jobs.items() if j.end is not None}


def critical_path(jobs: dict[int, Job]) -> list[Job]:
    """The chain of dependent jobs with the largest total wall time."""
    producer = {out: k for k, job in jobs.items() for out in job.outputs}
    order = sorted(jobs, key=lambda k: jobs[k].start)
    best: dict[int, tuple[float, int | None]] = {}
    for k in order:
        deps = {producer[i] for i in jobs[k].inputs if i in producer and producer[i] != k}
        before = max(
            ((best[d][0], d) for d in deps if d in best), default=(0.0, None), key=lambda t: t[0]
        )
        best[k] = (before[0] + jobs[k].seconds, before[1])
    k: int | None = max(best, key=lambda j: best[j][0])
    chain = []
    while k is not None:
        chain.append(jobs[k])
        k = best[k][1]
    return chain[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    jobs = parse(args.log)
    if not jobs:
        raise SystemExit(f"{args.log}: no job ran in this invocation (a dry run, or nothing to do)")
    by_rule: dict[str, list[float]] = {}
    for job in jobs.values():
        by_rule.setdefault(job.rule, []).append(job.seconds)
    first = min(j.start for j in jobs.values())
    last = max(j.end for j in jobs.values() if j.end)
    print(f"{len(jobs)} jobs, wall {(last - first).total_seconds() / 60:.1f} min\n")
    print("| rule | jobs | sum of job wall times [s] | median [s] |\n|---|---|---|---|")
    rows = sorted(by_rule.items(), key=lambda r: -sum(r[1]))
    for rule, times in rows[: args.top]:
        print(f"| {rule} | {len(times)} | {sum(times):,.0f} | {statistics.median(times):.1f} |")
    total = sum(sum(t) for t in by_rule.values())
    print(f"| all {len(jobs)} jobs | | {total:,.0f} | |\n")
    chain = critical_path(jobs)
    print(f"critical path: {sum(j.seconds for j in chain):,.0f} s")
    for job in chain:
        what = job.outputs[0] if job.outputs else ""
        print(f"  {job.seconds:>6.0f} s  {job.rule:<24} {what}")


if __name__ == "__main__":
    main()
