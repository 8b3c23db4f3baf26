"""The MLP's learning curve on `low` at the sizes where it learns the pair mass, on a GPU:
the default dimuon sample generated in memory, split as the workflow splits it, and the
learning-curve points of `mlhep.studies.generalization` (the `ann` settings of the default
config, at least `--min-steps` optimiser steps, the best validation epoch kept) at each
training-set size, beside the exact limit on the same test events. Prints, per size, the
train/validation/test AUC, the optimiser steps to the kept epoch and the time; and the
validation AUC per epoch, to show in optimiser steps when the network leaves its plateau.

    python benchmarks/learning_curve_gpu.py [--sizes 10000 ... 400000] [--device cuda]

Needs numpy, scipy, pandas, scikit-learn and torch only (no uproot, no MLflow).
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.metrics import roc_auc_score
from toy_sample import ANN, default_splits

from mlhep.data.dimuon import KIND
from mlhep.evaluation.limit import limit_scores
from mlhep.models.base import FitContext
from mlhep.studies.generalization import run_point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 30_000, 50_000, 100_000, 200_000, 400_000]
    )
    parser.add_argument("--events", type=int, default=333_333, help="events per class")
    parser.add_argument("--features", default="low")
    parser.add_argument("--min-steps", type=int, default=1000)
    parser.add_argument("--n-validation", type=int, default=20_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.device == "cuda":
        print("CUDA:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    t0 = time.perf_counter()
    frame, splits = default_splits(args.events, args.seed)
    columns = KIND.feature_sets[args.features]
    test = splits["test"]
    limit = roc_auc_score(test["label"], limit_scores(KIND.limit, test, columns))
    print(
        f"{len(frame)} events generated and split in {time.perf_counter() - t0:.1f} s; "
        f"exact limit on {args.features}: test AUC {limit:.4f}"
    )
    settings = {
        "columns": columns,
        "model": ANN,
        "min_steps": args.min_steps,
        "n_validation": args.n_validation,
    }
    context = FitContext(args.seed, args.device, 8)
    for n in args.sizes:
        t0 = time.perf_counter()
        r = run_point("learning_curve", settings, {"model": "ann", "n_train": n}, splits, context)
        aucs = r["curves"]["validation_auc"]
        every = max(1, len(aucs) // 20)
        curve = " ".join(
            f"{k * r['steps_per_epoch']}:{aucs[k - 1]:.3f}"
            for k in range(every, len(aucs) + 1, every)
        )
        print(
            f"n_train {n:>7}: AUC train {r['train_auc']:.4f} validation {r['validation_auc']:.4f} "
            f"test {r['test_auc']:.4f} (limit - test {limit - r['test_auc']:+.4f}); kept epoch "
            f"{r['best_step']} = {r['optimiser_steps']} steps of {r['steps_per_epoch']}/epoch; "
            f"{time.perf_counter() - t0:.1f} s on {r['device']}\n"
            f"    validation AUC at optimiser step: {curve}"
        )


if __name__ == "__main__":
    main()
