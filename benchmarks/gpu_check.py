"""GPU check of the GPU-capable PyTorch stages, on a machine with CUDA: the default dimuon
sample generated in memory, the ANN trained through the workflow's trainer on CUDA (the
default settings, `low` features), evaluated against the exact limit (paired gap, excess
log-loss), and the deep ensemble's coverage on `high`. Prints times and numbers.

    python benchmarks/gpu_check.py [--events 333333] [--members 4] [--device cpu]

It needs numpy, scipy, pandas, scikit-learn and torch only: the ROOT writer (uproot) is not
imported when it is absent, since nothing here reads or writes ROOT files.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from toy_sample import ANN, default_splits

from mlhep.data.dimuon import KIND
from mlhep.evaluation.calibration import prior_log_odds
from mlhep.evaluation.classification import evaluate
from mlhep.evaluation.limit import limit_scores
from mlhep.models import ann
from mlhep.models.base import FitContext
from mlhep.models.training import prediction_frame
from mlhep.studies.ensembles import ensemble_result, run_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=333_333, help="events per class")
    parser.add_argument("--members", type=int, default=4, help="ensemble members")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for the baseline")
    parser.add_argument("--features", nargs="+", default=["low", "high"], help="feature sets")
    args = parser.parse_args()
    device = args.device
    if device == "cuda":
        print("CUDA:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    t0 = time.perf_counter()
    frame, splits = default_splits(args.events)
    print(f"generated and split {len(frame)} events in {time.perf_counter() - t0:.1f} s")
    test = splits["test"]
    log_odds = prior_log_odds(splits["train"]["label"].to_numpy())

    for features in args.features:
        columns = KIND.feature_sets[features]
        trainer = ann.TRAINERS["ann"]
        t0 = time.perf_counter()
        fitted = trainer.fit(splits, columns, ANN, FitContext(seed=42, device=device, threads=8))
        fit_seconds = time.perf_counter() - t0
        on = next(fitted.model.parameters()).device
        predictions = prediction_frame(trainer, fitted, splits, columns)
        limit = limit_scores(KIND.limit, test, columns)
        m = evaluate(predictions, "bce", limit, log_odds, 1000, 0.95, 10.0, 42, ["isotonic"])
        print(
            f"ann on {features}: trained on {on} in {fit_seconds:.1f} s "
            f"(best epoch {fitted.best_step}); AUC {m['auc']:.4f}, limit {m['bayes_auc']:.4f}, "
            f"gap {m['gap_to_bayes']:+.4f} [{m['gap_low']:+.4f}, {m['gap_high']:+.4f}] "
            f"{m['limit_verdict']}; DeLong p {m['delong_p']:.2g}; excess log-loss "
            f"{m['excess_log_loss']:.2e} nats (isotonic {m['excess_log_loss_isotonic']:.2e}), "
            f"E|p-p*| {m['mean_abs_dp']:.4f}, logit slope {m['logit_slope']:.3f}"
        )

    if args.members < 2:
        return
    columns = KIND.feature_sets["high"]
    settings = {**ANN, "epochs": 10, "min_epochs": 10}

    def member(train: pd.DataFrame, validation: pd.DataFrame, seed: int) -> np.ndarray:
        net, _ = ann.train(train, validation, columns, settings, torch.device(device), 8, seed)
        return ann.TorchClassifier(net).predict_proba(test[columns])[:, 1]

    t0 = time.perf_counter()
    probabilities = run_ensemble(member, splits, args.members, 1042, False)
    seconds = time.perf_counter() - t0
    summary, _ = ensemble_result(
        probabilities, test, limit_scores(KIND.limit, test, columns), log_odds
    )
    print(
        f"deep ensemble of {args.members} on high: {seconds:.1f} s; coverage at 1/2/3 spreads "
        f"{summary['coverage_1']:.3f} / {summary['coverage_2']:.3f} / {summary['coverage_3']:.3f} "
        f"(honest {summary['coverage_honest_1']:.3f} / {summary['coverage_honest_2']:.3f} / "
        f"{summary['coverage_honest_3']:.3f}), "
        f"spread scale for 68% {summary['spread_scale_68']:.2f}, Spearman "
        f"{summary['spearman_spread_error']:.2f}, mean error {summary['mean_error']:.4f}, "
        f"mean spread {summary['mean_spread']:.4f}"
    )


if __name__ == "__main__":
    main()
