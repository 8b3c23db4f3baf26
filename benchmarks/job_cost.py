"""Benchmark of a job's fixed cost (prints its numbers; not a test).

The workflow's cheapest real job, one point of the polynomial-degree study (its fit takes
a fraction of a second), is timed as Snakemake runs it (``--forcerun`` of that one job)
against a no-op ``run:`` job and a bare ``python -c pass``, in the same run, repeated and
interleaved. Its fixed cost is its wall time less the no-op job's share that any job pays
(Snakemake's start) and less the point's own computation; where that goes is broken down:
the workflow's parse and DAG (a dry run of the same job), the heaviest imports of the
job's script (``python -X importtime``), and the MLflow store opened and one run logged.

Usage: python benchmarks/job_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mlhep import worker

REPO = Path(__file__).resolve().parent.parent
#: The job of one polynomial point (a chunk of the study holding that one point).
POINT = "results/studies/generalization/polynomial_degree/chunks/0.json"
NOOP_SNAKEFILE = """
rule noop:
    output: "noop.txt"
    run:
        with open(output[0], "w") as f:
            f.write("done")
"""
SCRIPT = REPO / "workflow" / "scripts" / "generalization_chunk.py"


def script_imports() -> str:
    """The import lines of the point's script (what it runs before its first line of work)."""
    lines = SCRIPT.read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith(("import ", "from ")))


#: In the bench's work directory: the script's imports, the point computed alone, then
#: MLflow imported, the store opened with a run started, and one metric logged, each timed.
#: The point's settings come from the plan, outside the timings (the job gets them as
#: params from Snakemake).
PROBE = """
import json, sys, time
t0 = time.perf_counter()
{imports}
from mlhep.studies.generalization import run_point
t1 = time.perf_counter()
from mlhep.config import load_config
from mlhep.plan import Plan
plan = Plan(load_config(sys.argv[1])).stage("generalization")
name = "degree~3"
settings, point = plan.settings("polynomial_degree", name), plan.point("polynomial_degree", name)
t2 = time.perf_counter()
run_point("polynomial_degree", settings, point, None, FitContext(1, "cpu", 1))
t3 = time.perf_counter()
from mlhep.tracking import RunSpec, mlflow_module, start_run
mlflow = mlflow_module()
t4 = time.perf_counter()
spec = RunSpec.for_job("results/mlflow/experiments.json", "generalization", "bench",
                       "benchmarks/job_cost.py", {{"x": 1}})
with start_run(spec, "bench"):
    t5 = time.perf_counter()
    mlflow.log_metric("m", 1.0)
t6 = time.perf_counter()
print(json.dumps({{"script_imports_s": t1 - t0, "point_s": t3 - t2, "mlflow_import_s": t4 - t3,
                  "store_open_and_run_start_s": t5 - t4, "run_log_and_end_s": t6 - t5}}))
"""


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall time of one command (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - start


def config(workdir: Path) -> Path:
    """A config whose only stage past the splits is one point of the polynomial study."""
    cfg = yaml.safe_load((REPO / "config" / "test-minimal.yaml").read_text())
    cfg["report"] = {"activate": False}
    section = {"activate": True, "dataset": None, "chunks": 1}
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    studies = schema["properties"]["studies"]["properties"]["generalization"]["properties"]
    for study, entry in studies.items():
        if entry.get("type") == "object" and "activate" in entry.get("properties", {}):
            section[study] = {"activate": False}
    section["polynomial_degree"] = {"activate": True, "degree": [3]}
    cfg["studies"]["generalization"] = section
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def import_breakdown(top: int = 8) -> list[tuple[str, float]]:
    """The script's heaviest top-level imports (cumulative seconds)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script_imports()],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2]
            if len(name) - len(name.lstrip()) == 1:  # imported by the script itself
                rows.append((name.strip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = config(work)
        base = [*snakemake, "--directory", str(work), "--configfile", str(cfg)]
        subprocess.run([*base, "--cores", "2", POINT], check=True, capture_output=True)
        (work / "noop").mkdir()
        (work / "noop" / "Snakefile").write_text(NOOP_SNAKEFILE)
        noop = [sys.executable, "-m", "snakemake", "--cores", "1", "--forceall", "--quiet"]
        times: dict[str, list[float]] = {
            "python -c pass": [],
            "no-op run: job": [],
            "workflow dry run": [],
            "point, own process": [],
            "point, warm worker": [],
        }
        (work / ".snakemake").mkdir(exist_ok=True)
        served = worker.start(work)  # its socket named in os.environ: the runs below use it
        assert served is not None, "a worker is switched off or already named"
        while not os.path.exists(os.environ[worker.SOCKET_ENV]):
            time.sleep(0.1)
        own = {**os.environ, worker.SWITCH_ENV: "0"}
        for _ in range(args.repeats):  # interleaved: the machine's load hits all alike
            times["python -c pass"].append(timed([sys.executable, "-c", "pass"], work))
            times["no-op run: job"].append(timed(noop, work / "noop"))
            # the target between one-value options: --configfile, --quiet and --forcerun take
            # lists that would swallow it
            force = [
                *base,
                "--cores",
                "1",
                POINT,
                "--quiet",
                "all",
                "--forcerun",
                "generalization_chunk",
            ]
            times["workflow dry run"].append(timed([*force, "--dry-run"], work))
            times["point, own process"].append(timed(force, work, own))
            times["point, warm worker"].append(timed(force, work))
        worker.stop(served)
        served_jobs = (work / ".snakemake" / "warm-worker.log").read_text().count("ended: 0")
        assert served_jobs == args.repeats, "the worker did not run every warm point"
        probe = subprocess.run(
            [sys.executable, "-c", PROBE.format(imports=script_imports()), str(cfg)],
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
        )
        parts = json.loads(probe.stdout.strip().splitlines()[-1])
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'command':<22}{'median [s]':>12}{'min':>8}{'max':>8}")
    for name, values in times.items():
        print(f"{name:<22}{median[name]:>12.2f}{min(values):>8.2f}{max(values):>8.2f}")
    for where in ("own process", "warm worker"):
        point = median[f"point, {where}"]
        fixed = point - median["no-op run: job"] - parts["point_s"]
        print(
            f"\n{where}: the point's job / the no-op job: {point / median['no-op run: job']:.2f};"
            f" its fixed cost beyond any job's (less its {parts['point_s']:.2f} s of work): "
            f"{fixed:.2f} s (target 1.5 s)"
        )
    run = median["point, warm worker"] - median["workflow dry run"]
    print(
        f"the workflow's parse and DAG (its dry run) {median['workflow dry run']:.2f} s; "
        f"running the job in the warm worker adds {run:.2f} s"
    )
    print("\nwhere a job's own process spends it (one process, after the job has run):")
    for key, value in parts.items():
        print(f"  {key:<28}{value:>8.2f} s")
    print("\nthe script's heaviest imports (cumulative, python -X importtime):")
    for name, seconds in import_breakdown():
        print(f"  {name:<48}{seconds:>8.2f} s")


if __name__ == "__main__":
    main()
