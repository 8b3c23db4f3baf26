"""The end-of-job line of every rule's log: CPU time and peak memory from the kernel."""

from __future__ import annotations

import re
import subprocess
import sys

#: A fresh process reports its usage, after touching every page of ``{mb}`` MB and
#: spinning for ``{spin}`` s of CPU.
PROBE = """
import time
from mlhep.runlog import job_usage
block = bytearray({mb} * 2**20)
block[::4096] = b"x" * len(block[::4096])
start = time.process_time()
while time.process_time() - start < {spin}:
    pass
print(job_usage())
"""


def _usage(mb: int, spin: float = 0.0) -> tuple[float, int]:
    """CPU seconds and peak MB that a fresh process reports after allocating ``mb`` MB."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(mb=mb, spin=spin)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu, peak = re.fullmatch(r"CPU ([\d.]+) s, peak memory (\d+) MB\n", out).groups()
    return float(cpu), int(peak)


def test_job_usage_sees_an_allocation_in_its_peak_memory() -> None:
    """Two fresh processes, alike but for 300 MB touched: their peaks differ by about that
    (in one process the test's own earlier peak could hide it); a unit error (kB as MB)
    or the children's peak for the job's would fail."""
    cpu, small = _usage(1, spin=0.5)
    _, large = _usage(300)
    assert 0.5 <= cpu < 2.0, cpu  # the spin, the interpreter's start and the import
    assert 250 <= large - small <= 330, (small, large)  # measured 271
