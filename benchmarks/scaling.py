"""Benchmark of how cost grows with the events (prints its numbers; not a test).

The core chain of the default dimuon analysis, through the library calls the workflow's
scripts make: generate (ROOT), features (parquet), split, the BDT and the MLP trained on
`all` through ``mlhep.models.training.train``, each evaluated with its bootstrap as
``workflow/scripts/evaluate.py`` does (its plots included), the exact limit on `all` as
``bayes_optimal.py`` evaluates it, and the summary table of ``summary.py``. MLflow is left
out (a fixed cost per job, not per event). Settings are config/config.yaml's, except that
the amount of training is fixed so that time per event is what is measured: the BDT boosts
``--trees`` trees and the MLP runs ``--epochs`` epochs, both without early stopping.

Each stage at each size runs in its own fresh process, its inputs read from the files the
previous stage wrote in a temporary directory. Printed per stage and size: wall and CPU
time of the work (after the imports), the process's peak RSS, the peak RSS of a process
that only makes the same imports (baseline), their difference (the work's), the stage's
data (its input and output event arrays, as held in memory) and the ratio work/data. Then
per stage the log-log slope of time against events over the sizes run, raw and above the
floor (the time at ``--floor-events``, a size where per-event work is negligible,
subtracted first: fixed costs such as matplotlib's figure or XGBoost's set-up would
otherwise flatten the slope). Usage:

    python benchmarks/scaling.py [--events 1e5 1e6 1e7] [--stages generate split ...]
        [--threads 1] [--trees 50] [--epochs 2] [--floor-events 1000] [--repeats 1]
        [--tmpdir DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

SPLITS = ("train", "validation", "test")
#: What a model's training imports on first use, made part of its baseline.
LATE = {"bdt": (), "ann": ("torch._dynamo",)}
MODELS = ("bdt", "ann")
#: Threading variables a worker gets, so that no library uses more than ``--threads``.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def split_path(d: Path, split: str) -> Path:
    """Where the split stage writes one split."""
    return d / f"{split}.parquet"


def model_dir(d: Path, model: str) -> Path:
    """Where one model's training and evaluation write."""
    return d / model


# --- the stages, as the workflow's scripts run them (a worker process each) ---------------
def run_generate(d: Path, s: dict[str, Any]) -> None:
    """Rule generate: the dataset's events as a ROOT TTree, with its record."""
    from mlhep import io
    from mlhep.data import get_kind

    record = get_kind("dimuon").produce(d / "events.root", s["dataset"], s["seed"])
    io.write_json(d / "generation.json", record)


def run_features(d: Path, s: dict[str, Any]) -> None:
    """Rule features: the events tree to the parquet feature table."""
    from mlhep import io
    from mlhep.data import get_kind

    io.write_parquet(d / "features.parquet", get_kind("dimuon").build_features(d / "events.root"))


def run_split(d: Path, s: dict[str, Any]) -> None:
    """Rule split: stratified, seeded train / validation / test parquet files."""
    import pandas as pd

    from mlhep import io
    from mlhep.features.splits import make_splits

    parts, record = make_splits(pd.read_parquet(d / "features.parquet"), s["splits"], s["seed"])
    for name, part in parts.items():
        io.write_parquet(split_path(d, name), part)
    io.write_json(d / "splits.json", {"seed": s["seed"], "splits": record})


def run_train(model: str) -> Callable[[Path, dict[str, Any]], None]:
    """Rule train for ``model`` on `all`: the one training path, without an MLflow run."""

    def run(d: Path, s: dict[str, Any]) -> None:
        """Train, predict every split, write the model, predictions and record."""
        from mlhep.models.base import FitContext
        from mlhep.models.training import TrainingJob, train

        out = model_dir(d, model)
        job = TrainingJob(
            model=model,
            dataset="dimuon",
            features="all",
            columns=s["columns"],
            settings=s["models"][model],
            context=FitContext(s["seed"], "cpu", s["threads"], {}),
            model_dir=out / "model",
            predictions=out / "predictions.parquet",
            record=out / "record.json",
        )
        train(job, {split: split_path(d, split) for split in SPLITS}, None)

    return run


def run_evaluate(model: str) -> Callable[[Path, dict[str, Any]], None]:
    """Rule evaluate for ``model``: ``workflow/scripts/evaluate.py`` without MLflow."""

    def run(d: Path, s: dict[str, Any]) -> None:
        """Every metric against the limit (bootstrap included), the ROC and score plots."""
        import pandas as pd

        from mlhep import io
        from mlhep.data import get_kind
        from mlhep.evaluation.classification import evaluate
        from mlhep.evaluation.figures import save_evaluation_figures
        from mlhep.evaluation.limit import limit_scores
        from mlhep.models.training import record_prior_log_odds

        out = model_dir(d, model)
        record = io.read_json(out / "record.json")
        predictions = pd.read_parquet(out / "predictions.parquet")
        test = pd.read_parquet(split_path(d, "test"))
        limit = limit_scores(get_kind("dimuon").limit, test, record["columns"])
        e = s["evaluation"]
        metrics = evaluate(
            predictions,
            record["loss"],
            limit,
            record_prior_log_odds(record, predictions),
            e["bootstrap_resamples"],
            e["confidence_level"],
            e["ams_regularisation"],
            s["seed"],
            e["calibration"],
        )
        metrics.update(dataset="dimuon", model=model, features="all", mlflow_run_id=None)
        save_evaluation_figures(
            predictions, limit, metrics, model, "all", out / "roc.png", out / "scores.png"
        )
        io.write_json(out / "metrics.json", metrics)

    return run


def run_limit(d: Path, s: dict[str, Any]) -> None:
    """Rule bayes_optimal on `all`: the exact limit evaluated like a classifier."""
    import pandas as pd

    from mlhep import io
    from mlhep.data import get_kind
    from mlhep.evaluation.calibration import prior_log_odds
    from mlhep.evaluation.classification import evaluate
    from mlhep.evaluation.limit import limit_predictions

    splits = {split: pd.read_parquet(split_path(d, split)) for split in SPLITS}
    log_odds = prior_log_odds(splits["train"]["label"].to_numpy())
    predictions = limit_predictions(get_kind("dimuon").limit, splits, s["columns"], log_odds)
    scores = predictions.loc[predictions["split"] == "test"].set_index("event_id")["score"]
    e = s["evaluation"]
    metrics = evaluate(
        predictions,
        "bce",
        scores,
        log_odds,
        e["bootstrap_resamples"],
        e["confidence_level"],
        e["ams_regularisation"],
        s["seed"],
    )
    result = {"dataset": "dimuon", "prior_log_odds": log_odds, "feature_sets": {"all": metrics}}
    io.write_json(d / "limit.json", result)


def run_summary(d: Path, s: dict[str, Any]) -> None:
    """Rule summary: the table of every classifier and the limit, as CSV and Markdown."""
    from mlhep import io
    from mlhep.evaluation.classification import bayes_rows, summary_markdown, summary_table

    rows = [io.read_json(p) for p in sorted(d.glob("*/metrics.json"))]
    if (d / "limit.json").exists():
        rows.extend(bayes_rows(io.read_json(d / "limit.json")))
    table = summary_table(rows)
    io.write_csv(d / "summary.csv", table)
    io.write_text(d / "summary.md", summary_markdown(table))


@dataclass(frozen=True)
class Stage:
    """A stage: its imports (before the clock), the stages it reads, its work, its data files."""

    name: str
    modules: tuple[str, ...]
    needs: tuple[str, ...]
    run: Callable[[Path, dict[str, Any]], None]
    files: Callable[[Path], list[Path]]


_BASE = ("numpy", "pandas", "pyarrow.parquet", "mlhep.io", "mlhep.data", "mlhep.data.dimuon")
_EVALUATION = (
    *_BASE,
    "sklearn.metrics",
    "mlhep.evaluation.classification",
    "mlhep.evaluation.limit",
    "mlhep.models.training",
)


def _splits(d: Path) -> list[Path]:
    """The three split files: the input of training and of the limit."""
    return [split_path(d, split) for split in SPLITS]


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "generate",
            (*_BASE, "uproot", "scipy.integrate", "tqdm"),
            (),
            run_generate,
            lambda d: [d / "events.root"],
        ),
        Stage(
            "features",
            (*_BASE, "uproot"),
            ("generate",),
            run_features,
            lambda d: [d / "events.root", d / "features.parquet"],
        ),
        Stage(
            "split",
            (*_BASE, "mlhep.features.splits"),
            ("features",),
            run_split,
            lambda d: [d / "features.parquet", *_splits(d)],
        ),
        *(
            Stage(
                f"train_{m}",
                # the optimiser's first step imports torch._dynamo (and sympy)
                (*_BASE, "mlhep.models.training", f"mlhep.models.{m}", *LATE[m]),
                ("split",),
                run_train(m),
                lambda d, m=m: [*_splits(d), model_dir(d, m) / "predictions.parquet"],
            )
            for m in MODELS
        ),
        *(
            Stage(
                f"evaluate_{m}",
                (*_EVALUATION, "mlhep.plotting", "matplotlib.pyplot", "mplhep"),
                (f"train_{m}",),
                run_evaluate(m),
                lambda d, m=m: [model_dir(d, m) / "predictions.parquet", split_path(d, "test")],
            )
            for m in MODELS
        ),
        Stage("limit", _EVALUATION, ("split",), run_limit, _splits),
        Stage(
            "summary",
            (*_BASE, "mlhep.evaluation.classification"),
            (*(f"evaluate_{m}" for m in MODELS), "limit"),
            run_summary,
            lambda d: [
                *(model_dir(d, m) / "metrics.json" for m in MODELS),
                d / "limit.json",
                d / "summary.csv",
            ],
        ),
    )
}


# --- the worker: one stage in this process ------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User and system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(stage: Stage, d: Path | None) -> dict[str, Any]:
    """Import what ``stage`` imports, then (given a directory) run it and time the work."""
    for module in stage.modules:
        importlib.import_module(module)
    if d is None:  # the baseline: imports only
        return {"peak_mb": peak_rss_mb()}
    settings = json.loads((d / "settings.json").read_text())
    before = set(sys.modules)
    cpu, start = cpu_seconds(), time.perf_counter()
    stage.run(d, settings)
    wall = time.perf_counter() - start
    late = sorted({m.split(".")[0] for m in sys.modules} - {m.split(".")[0] for m in before})
    return {
        "seconds": wall,
        "cpu_seconds": cpu_seconds() - cpu,
        "peak_mb": peak_rss_mb(),
        "late_imports": late,  # top-level packages first imported inside the work
    }


# --- the driver ---------------------------------------------------------------------------
def array_bytes(path: Path) -> int:
    """Bytes of a file's event arrays in memory (ROOT branches, parquet columns; else its size)."""
    if path.suffix == ".root":
        import uproot

        with uproot.open(path) as file:
            tree = file["events"]
            return sum(
                tree.num_entries * np.dtype(b.interpretation.to_dtype).itemsize
                for b in tree.branches
            )
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path)
        rows, total = table.metadata.num_rows, 0
        for field in table.schema_arrow:
            try:
                total += rows * field.type.bit_width // 8
            except ValueError:  # variable width (the split's name): read that column
                total += table.read(columns=[field.name]).nbytes
        return total
    return path.stat().st_size


def settings_for(events: int, threads: int, trees: int, epochs: int) -> dict[str, Any]:
    """config/config.yaml's dimuon settings at ``events`` events, training fixed (no early stop)."""
    from mlhep.config import load_config
    from mlhep.models.base import hyperparameters

    config = load_config(REPO / "config" / "config.yaml")
    dataset = {
        **config["datasets"]["dimuon"],
        "n_signal": events // 2,
        "n_background": events - events // 2,
    }
    models = {m: hyperparameters(config["models"][m]) for m in MODELS}
    models["bdt"].update(n_estimators=trees, early_stopping=False)
    models["ann"].update(epochs=epochs, min_epochs=epochs, early_stopping=False)
    return {
        "seed": config["seed"],
        "dataset": dataset,
        "columns": list(dataset["feature_sets"]["all"]),
        "splits": config["splits"],
        "models": models,
        "evaluation": {k: v for k, v in config["evaluation"].items() if k != "regression"},
        "threads": threads,
    }


def spawn(name: str, d: Path | None, threads: int) -> dict[str, Any]:
    """Run one stage (or its baseline, without ``d``) in a fresh Python process."""
    command = [sys.executable, __file__, "--worker", name, "--threads", str(threads)]
    if d is not None:
        command += ["--dir", str(d)]
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"stage {name} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def needed(stages: Sequence[str]) -> list[str]:
    """The stages to run, in chain order: the asked ones and every one they read from."""
    want = set(stages)
    for name in reversed(list(STAGES)):
        if name in want:
            want.update(STAGES[name].needs)
    return [name for name in STAGES if name in want]


def run_size(
    events: int, stages: Sequence[str], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Every needed stage at one size, in its own process, in a fresh directory."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="scaling.", dir=args.tmpdir) as tmp:
        d = Path(tmp)
        settings = settings_for(events, args.threads, args.trees, args.epochs)
        (d / "settings.json").write_text(json.dumps(settings))
        for name in needed(stages):
            tries = [spawn(name, d, args.threads) for _ in range(args.repeats)]
            result = {
                "seconds": min(t["seconds"] for t in tries),
                "cpu_seconds": min(t["cpu_seconds"] for t in tries),
                "peak_mb": max(t["peak_mb"] for t in tries),
                "late_imports": tries[0]["late_imports"],
            }
            result["data_mb"] = sum(array_bytes(p) for p in STAGES[name].files(d)) / 2**20
            results[name] = result
            if args.verbose:
                print(f"  {name:<13} {events:>11,} {result}", flush=True)
    return results


def slope(events: Sequence[int], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(events); NaN where undefined."""
    x, y = np.log(np.asarray(events, float)), np.asarray(seconds, float)
    keep = y > 0
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(x[keep], np.log(y[keep]), 1)[0])


def report(
    sizes: Sequence[int],
    runs: dict[int, dict[str, dict[str, Any]]],
    baselines: dict[str, float],
    floor: tuple[int, dict[str, dict[str, Any]]] | None,
    stages: Sequence[str],
) -> None:
    """Print the stage x events table, the fitted exponents and the total times."""
    header = (
        f"{'stage':<13} {'events':>11} {'time[s]':>8} {'cpu[s]':>8} {'peak[MB]':>9} "
        f"{'base[MB]':>9} {'work[MB]':>9} {'data[MB]':>9} {'work/data':>9}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for name in stages:
        base = baselines[name]
        rows = [(f"{floor[0]:,}*", floor[1])] if floor else []
        rows += [(f"{n:,}", runs[n]) for n in sizes]
        for label, run in rows:
            r = run[name]
            work = r["peak_mb"] - base
            print(
                f"{name:<13} {label:>11} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} "
                f"{r['peak_mb']:>9.1f} {base:>9.1f} {work:>9.1f} {r['data_mb']:>9.2f} "
                f"{work / r['data_mb']:>9.2f}"
            )
            if r["late_imports"]:
                print(f"{'':<13} imported during the work: {', '.join(r['late_imports'])}")
    if floor:
        print(
            f"* the floor ({floor[0]:,} events), subtracted from the times for the slope above it"
        )
    print(
        "\nExponent of time against events (log-log least squares over "
        f"{', '.join(f'{n:.0e}' for n in sizes)}); work/data at the largest size, and the "
        "marginal ratio: the work's growth over the data's between the two largest sizes (what "
        "work/data tends to as the events grow)"
    )
    print(
        f"{'stage':<13} {'slope':>7} {'above floor':>12} {'cpu slope':>10} {'work/data':>10} "
        f"{'marginal':>9}"
    )
    for name in stages:
        seconds = [runs[n][name]["seconds"] for n in sizes]
        cpu = [runs[n][name]["cpu_seconds"] for n in sizes]
        above = float("nan")
        if floor:
            above = slope(sizes, [t - floor[1][name]["seconds"] for t in seconds])
        last = runs[sizes[-1]][name]
        ratio = (last["peak_mb"] - baselines[name]) / last["data_mb"]
        marginal = float("nan")
        if len(sizes) > 1:
            before = runs[sizes[-2]][name]
            marginal = (last["peak_mb"] - before["peak_mb"]) / (last["data_mb"] - before["data_mb"])
        print(
            f"{name:<13} {slope(sizes, seconds):>7.2f} {above:>12.2f} "
            f"{slope(sizes, cpu):>10.2f} {ratio:>10.2f} {marginal:>9.2f}"
        )
    for n in sizes:
        total = sum(runs[n][name]["seconds"] for name in runs[n])
        peak = max(runs[n][name]["peak_mb"] for name in runs[n])
        print(f"{n:>11,} events: {total:.0f} s for the stages run, largest peak RSS {peak:.0f} MB")


def main() -> None:
    """Parse the options; run one stage as a worker, or drive every size and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--trees", type=int, default=50, help="BDT trees boosted")
    parser.add_argument("--epochs", type=int, default=2, help="MLP epochs run")
    parser.add_argument("--floor-events", type=int, default=1000, help="0: no floor")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each stage: least time, largest peak"
    )
    parser.add_argument("--tmpdir", default=None, help="where the stages' files go")
    parser.add_argument("--verbose", action="store_true", help="print each run as it ends")
    parser.add_argument("--worker", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(STAGES[args.worker], args.dir)))
        return
    sizes = sorted(int(n) for n in args.events)
    stages = needed(args.stages)
    print(
        f"dimuon chain, config/config.yaml; BDT {args.trees} trees, MLP {args.epochs} epochs "
        f"(no early stopping); {args.threads} thread(s); events {sizes}; stages {stages}; "
        f"{args.repeats} run(s) each",
        flush=True,
    )
    baselines = {name: spawn(name, None, args.threads)["peak_mb"] for name in stages}
    floor = None
    if args.floor_events:
        floor = (args.floor_events, run_size(args.floor_events, stages, args))
    runs = {n: run_size(n, stages, args) for n in sizes}
    report(sizes, runs, baselines, floor, [s for s in stages if s in args.stages])


if __name__ == "__main__":
    main()
