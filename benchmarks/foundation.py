"""Benchmark of the foundation (prints its numbers; not a test).

- dimuon generation into a ROOT TTree: events/s and peak RSS at 1M and 10M events, each
  in a fresh process (peak memory must stay bounded: generation is chunked);
- the wall time of a no-op rerun of the workflow (everything up to date).

Usage: python benchmarks/foundation.py [--sizes 1000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = (
    """
import json, resource, sys, time
from mlhep.data.dimuon.generate import generate_dimuon
n = int(sys.argv[1]); path = sys.argv[2]
start = time.perf_counter()
generate_dimuon(path, n // 2, n - n // 2, 1000.0, 100000.0, seed=1, progress=False)
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "peak_rss_mb": """
    """resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
)


def bench_generation(n: int, workdir: Path) -> dict[str, float]:
    """Generate ``n`` events in a fresh process; return wall time, events/s, peak RSS, size."""
    path = workdir / f"events-{n}.root"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(path)], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["events_per_s"] = n / result["wall_s"]
    result["file_mb"] = path.stat().st_size / 2**20
    path.unlink()
    return result


def snakemake(workdir: Path) -> float:
    """Wall time of one `snakemake --cores 2` run of the tiny config in ``workdir``."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(REPO / "config/test-tiny.yaml"),
            "--cores",
            "2",
            "--quiet",
            "all",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(
            f"{'events':>12} {'wall [s]':>9} {'events/s':>11} "
            f"{'peak RSS [MB]':>14} {'file [MB]':>10}"
        )
        for n in args.sizes:
            r = bench_generation(n, workdir)
            print(
                f"{n:>12,} {r['wall_s']:>9.1f} {r['events_per_s']:>11,.0f} "
                f"{r['peak_rss_mb']:>14.0f} {r['file_mb']:>10.0f}",
                flush=True,
            )
        first = snakemake(workdir / "wf")
        noop = [snakemake(workdir / "wf") for _ in range(3)]
        print(f"tiny workflow: first run {first:.1f} s; no-op rerun {min(noop):.2f} s (best of 3)")


if __name__ == "__main__":
    main()
