"""Generator training time on the CPU and on CUDA, same code, same settings, same run.

Trains the default GAN and WGAN-GP (the schema's ``models.gan`` and ``models.wgan_gp``,
physics-informed critic) on fresh toy events for a fixed number of generator steps, on
each device asked for, and prints seconds per step, critic events per second and the
ratio to the CPU; then samples 50k events from each and prints the signal's m_mumu FWHM
(the toy's own is about 7.5 GeV). No monitor: the loop alone is timed.

    python benchmarks/generator_training.py --devices cpu,cuda --events 400000 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"


def defaults(model: str) -> dict:
    """The schema's defaults of ``models.<model>`` (no jsonschema needed)."""
    schema = yaml.safe_load(SCHEMA.read_text())
    properties = schema["properties"]["models"]["properties"][model]["properties"]
    return {k: v["default"] for k, v in properties.items() if k not in ("activate", "threads")}


def toy_events(n: int, seed: int) -> pd.DataFrame:
    """Toy events (half signal) with the low-level columns and the label."""
    from mlhep.data.dimuon.physics import LOW_LEVEL_FEATURES, generate_chunks

    chunks = [c.columns for c in generate_chunks(n // 2, n - n // 2, seed, 1.0, 1.0)]
    frame = pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    return frame[[*LOW_LEVEL_FEATURES, "label"]]


def fwhm_of_signal(generator: object, seed: int) -> float:
    """The signal's m_mumu FWHM of 50k generated events (25k signal)."""
    from mlhep.data.dimuon.features import engineer
    from mlhep.generative.distances import fwhm

    labels = np.r_[np.ones(25000, int), np.zeros(25000, int)]
    frame, _ = generator.sample(labels, seed)  # type: ignore[attr-defined]
    mass = engineer(frame)["m_mumu"].to_numpy()
    return fwhm(mass[labels == 1])


def main() -> None:
    from mlhep.generative import gan

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="cpu", help="comma-separated: cpu, cuda")
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--steps", type=int, default=0, help="generator steps (0: the defaults)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the rule's default)")
    parser.add_argument("--out", default="", help="write the numbers as JSON here")
    args = parser.parse_args()
    frame = toy_events(args.events, 1)
    rows = []
    for model in ("gan", "wgan_gp"):
        settings = {**defaults(model), "objective": model, "critic": "physics", "keep_best": False}
        if args.steps:
            settings.update(steps=args.steps, eval_every=args.steps)
        for device in args.devices.split(","):
            if device == "cuda" and not torch.cuda.is_available():
                print("no CUDA device: skipped")
                continue
            start = time.perf_counter()
            generator, _ = gan.train(frame, settings, device=device, seed=3, threads=args.threads)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            steps = settings["steps"]
            row = {
                "model": model,
                "device": device,
                "steps": steps,
                "seconds": seconds,
                "ms_per_step": 1000 * seconds / steps,
                "critic_events_per_second": steps
                * settings["n_critic"]
                * settings["batch_size"]
                / seconds,
                "fwhm_signal": fwhm_of_signal(generator, 5),
                "gpu": torch.cuda.get_device_name() if device == "cuda" else "",
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    for model, part in table.groupby("model"):
        cpu = part.loc[part.device == "cpu", "seconds"]
        for _, row in part.iterrows():
            ratio = cpu.iloc[0] / row.seconds if len(cpu) else float("nan")
            print(
                f"{model:8s} {row.device:5s} {row.steps:6d} steps {row.seconds:8.1f} s "
                f"{row.ms_per_step:7.2f} ms/step  speed-up {ratio:5.1f}  "
                f"FWHM {row.fwhm_signal:5.2f} GeV"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
