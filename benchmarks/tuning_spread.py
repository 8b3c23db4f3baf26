"""How reproducible a hyper-parameter search is (prints its numbers; not a test).

The same search (``mlhep.studies.tuning``: the default space of a model, the default
settings as the first trial, TPE, median pruning) on the same toy dimuon events, repeated:
- with one worker: every repeat must give the same trials to the last digit;
- with two worker processes sharing one journal file, as two workflow jobs do: the order in
  which trials finish depends on timing, so what TPE draws next does too; the spread of the
  best validation value over the repeats is what a parallel search's result is worth.

Usage: python benchmarks/tuning_spread.py [--model bdt] [--features low] [--events 60000]
       [--trials 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from mlhep.config import validate_config
from mlhep.data.dimuon import physics as dimuon
from mlhep.models.base import hyperparameters
from mlhep.studies import tuning

WORKER = """
import sys
import pandas as pd
from mlhep.studies import tuning
search = tuning.Search(**eval(open(sys.argv[1]).read()))
worker, trials, folder = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
splits = {s: pd.read_parquet(f"{folder}/{s}.parquet") for s in ("train", "validation")}
study = tuning.load_study(search, tuning.open_storage(search, f"{folder}/study.journal"), worker)
tuning.run_worker(search, study, worker, splits, trials)
"""


def sample(n: int, seed: int) -> pd.DataFrame:
    """``n`` balanced dimuon events with the low-level columns, ids and unit weights."""
    chunks = dimuon.generate_chunks(n // 2, n - n // 2, seed, 1.0, 1.0)
    frame = pd.concat([pd.DataFrame(c.columns) for c in chunks], ignore_index=True)
    return frame.assign(event_id=np.arange(n), weight=1.0)


def search_of(config: dict, model: str, features: str) -> tuning.Search:
    """The configured search of ``model`` on ``features`` (default space and settings)."""
    section = config["studies"]["tuning"]
    settings = hyperparameters(config["models"][model])
    return tuning.Search(
        dataset="benchmark",
        model=model,
        features=features,
        columns=tuple(config["datasets"]["dimuon"]["feature_sets"][features]),
        settings=settings,
        space=section["spaces"][model],
        seed=config["seed"],
        startup_trials=section["startup_trials"],
    )


def best(search: tuning.Search, journal: Path) -> tuple[float, int, list[tuple]]:
    """The best value, its trial and every trial's (state, value) of a finished study."""
    study = tuning.load_study(search, tuning.open_storage(search, journal))
    trial = tuning.best_trial(study)
    return trial.value, trial.number, [(t.state.name, t.value) for t in study.get_trials()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bdt")
    parser.add_argument("--features", default="low")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config: dict = {}
    validate_config(config)
    search = search_of(config, args.model, args.features)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        splits = {"train": sample(args.events, 1), "validation": sample(args.events // 3, 2)}
        for name, frame in splits.items():
            frame.to_parquet(folder / f"{name}.parquet")
        (folder / "search.py").write_text(repr(dict(vars(search))))
        print(
            f"{args.model} on {args.features}: {args.events:,} training events, "
            f"{args.trials} trials, {args.repeats} repeats"
        )
        for workers in (1, 2):
            results = []
            for repeat in range(args.repeats):
                journal = folder / "study.journal"
                journal.unlink(missing_ok=True)
                tuning.create_study(search, tuning.open_storage(search, journal))
                start = time.perf_counter()
                command = [sys.executable, "-c", WORKER, str(folder / "search.py")]
                procs = [
                    subprocess.Popen(
                        [*command, str(k), str(args.trials), str(folder)],
                        stderr=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                    )
                    for k in range(workers)
                ]
                if any(p.wait() for p in procs):
                    raise SystemExit("a worker failed")
                wall = time.perf_counter() - start
                value, number, trials = best(search, journal)
                results.append((value, number, trials))
                pruned = sum(state == "PRUNED" for state, _ in trials)
                print(
                    f"  {workers} worker(s), repeat {repeat}: best validation AUC {value:.5f} "
                    f"(trial {number}), {len(trials)} trials, {pruned} pruned, {wall:.0f} s"
                )
            values = np.array([r[0] for r in results])
            same = all(r[2] == results[0][2] for r in results)
            print(
                f"{workers} worker(s): best {values.mean():.5f}, spread (max - min) "
                f"{values.max() - values.min():.5f}, std {values.std(ddof=1):.5f}; "
                f"every repeat's trials identical: {same}"
            )


if __name__ == "__main__":
    main()
