"""Benchmark of the training code (prints its numbers; not a test).

At 1M training events (toy dimuon, low-level features):
- the ANN training loop of ``mlhep.models.ann.train`` against a bare PyTorch loop on the same
  tensors, same model and batch size: events/s and their ratio;
- XGBoost through ``mlhep.models.bdt.train`` against a bare ``xgboost.train`` call with the same
  parameters and rounds: wall time and ratio.
Both sides run in this one process, one after the other, so the ratio is robust to a
noisy machine. Usage: python benchmarks/training.py [--events 1000000] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from mlhep.config import validate_config
from mlhep.data.dimuon import physics as dimuon
from mlhep.models import ann, bdt


def sample(n: int, seed: int) -> pd.DataFrame:
    """``n`` balanced dimuon events with the low-level columns."""
    chunks = dimuon.generate_chunks(n // 2, n - n // 2, seed, 1.0, 1.0)
    return pd.concat([pd.DataFrame(c.columns) for c in chunks], ignore_index=True)


def bare_torch(frame: pd.DataFrame, columns: list[str], s: dict, epochs: int, seed: int) -> float:
    """Events/s of a plain PyTorch loop: the same MLP, AdamW, BCE, index-sliced batches."""
    torch.manual_seed(seed)
    x = torch.as_tensor(frame[columns].to_numpy(np.float32, copy=True))
    y = torch.as_tensor(frame["label"].to_numpy(np.float32, copy=True))
    model = ann.MLP(len(columns), s["layers"], s["width"], s["activation"], s["dropout"])
    opt = torch.optim.AdamW(
        model.parameters(), lr=s["learning_rate"], weight_decay=s["weight_decay"]
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), s["batch_size"]):
            idx = order[i : i + s["batch_size"]]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return len(x) * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config: dict = {}
    validate_config(config)
    columns = list(config["datasets"]["dimuon"]["feature_sets"]["low"])
    train, val = sample(args.events, 1), sample(2_000, 2)
    print(f"{args.events:,} training events, {len(columns)} features, {args.threads} thread(s)")

    s = {**config["models"]["ann"], "epochs": args.epochs, "min_epochs": args.epochs}
    bare = bare_torch(train, columns, s, args.epochs, seed=0)
    _, info = ann.train(train, val, columns, s, torch.device("cpu"), args.threads, seed=0)
    ours = info["events_per_second"]
    print(
        f"ANN  bare PyTorch loop {bare:>10,.0f} events/s | mlhep.models.ann.train {ours:>10,.0f} "
        f"events/s | ratio mlhep/bare {ours / bare:.3f}"
    )

    b = {
        **config["models"]["bdt"],
        "n_estimators": args.rounds,
        "early_stopping_rounds": args.rounds,
    }
    params = bdt.booster_params(b, "cpu", args.threads, 0)
    start = time.perf_counter()
    d_train = bdt.dmatrix(train, columns, weights=True)
    d_val = bdt.dmatrix(val, columns, weights=True)
    xgb.train(
        params,
        d_train,
        args.rounds,
        evals=[(d_train, "train"), (d_val, "validation")],
        verbose_eval=False,
    )
    bare_s = time.perf_counter() - start
    start = time.perf_counter()
    bdt.train(train, val, columns, b, "cpu", args.threads, 0)
    ours_s = time.perf_counter() - start
    print(
        f"BDT  bare xgboost.train {bare_s:>8.1f} s | mlhep.models.bdt.train {ours_s:>8.1f} s "
        f"| ratio mlhep/bare {ours_s / bare_s:.3f} ({args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
