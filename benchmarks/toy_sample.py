"""What the GPU benchmarks share: the workflow's library importable without uproot (the
device image has none, and nothing there reads or writes ROOT files), the default `ann`
settings, and the default dimuon sample generated in memory and split as the workflow
splits it. Import it before anything from ``mlhep``."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))
if importlib.util.find_spec("uproot") is None:  # the device image has no uproot
    sys.modules["uproot"] = types.ModuleType("uproot")

import pandas as pd

from mlhep.data.dimuon.features import engineer
from mlhep.data.dimuon.physics import generate_chunks
from mlhep.features.splits import make_splits

#: The `models.ann` settings of config/config.yaml.
ANN = {
    "layers": 3,
    "width": 128,
    "activation": "silu",
    "dropout": 0.0,
    "weight_decay": 0.0,
    "learning_rate": 0.01,
    "schedule": "cosine",
    "batch_size": 2048,
    "epochs": 20,
    "min_epochs": 15,
    "patience": 5,
}


def default_splits(events: int, seed: int = 42) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """``events`` per class of the toy (the default expected yields), engineered, and its
    60/20/20 splits."""
    chunks = list(generate_chunks(events, events, seed, 1000 / events, 1e5 / events))
    frame = engineer(pd.concat([pd.DataFrame(c.columns) for c in chunks], ignore_index=True))
    splits, _ = make_splits(frame, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed)
    return frame, splits
