"""The physics-built GAN's ablation (:mod:`mlhep.generative.ablation`): changes added one
at a time to generators of the config, each kept only if it helps on the validation split;
prints a table per generator and the settings kept (not a test).

The chains of several generators run side by side, one process and one thread each, on the
splits of a workflow run:

    .venv/bin/snakemake --cores 2 results/splits/dimuon/train.parquet
    python benchmarks/gan_ablation.py --generators gan_physics wgan_gp_physics
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_chain(name: str, config: Path, splits: Path, events: int) -> dict[str, Any]:
    """The ablation of generator ``name`` of ``config`` on the splits in ``splits``."""
    import pandas as pd
    import torch

    from mlhep.config import load_config
    from mlhep.generative import ablation
    from mlhep.plan import Plan

    torch.set_num_threads(1)
    plan = Plan(load_config(config))
    stage = plan.stage("generative")
    fidelity_settings = stage.fidelity_settings()
    train = pd.read_parquet(splits / "train.parquet")
    validation = pd.read_parquet(splits / "validation.parquet")

    def evaluate(settings: dict[str, Any]) -> dict[str, Any]:
        return ablation.judge(
            settings,
            train,
            validation,
            seed=int(plan.config["seed"]),
            events=events,
            monitor_events=int(plan.config["generative"]["monitor_events"]),
            distances={k: fidelity_settings[k] for k in ("fpd", "kpd")},
        )

    def progress(row: dict[str, Any]) -> None:
        print(json.dumps({"generator": name, **row}), flush=True)

    rows, settings = ablation.chain(stage.settings(name), evaluate, progress=progress)
    return {"rows": rows, "settings": settings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--splits", type=Path, default=REPO / "results/splits/dimuon")
    parser.add_argument("--generators", nargs="+", default=["gan_physics", "wgan_gp_physics"])
    parser.add_argument("--events", type=int, default=25_000, help="validation events judged")
    parser.add_argument("--jobs", type=int, default=2, help="chains run side by side")
    args = parser.parse_args()
    for split in ("train", "validation"):
        if not (args.splits / f"{split}.parquet").exists():
            raise SystemExit(
                f"{args.splits / f'{split}.parquet'}: no such split; make it first with "
                f"snakemake --cores 2 {args.splits / 'train.parquet'}"
            )
    from mlhep.generative import ablation

    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {
            name: pool.submit(run_chain, name, args.config, args.splits, args.events)
            for name in args.generators
        }
        for name, future in futures.items():
            result = future.result()
            print("\n" + ablation.markdown(name, result["rows"]))
            print(f"\nkept: {json.dumps(result['settings'], sort_keys=True)}", flush=True)


if __name__ == "__main__":
    main()
