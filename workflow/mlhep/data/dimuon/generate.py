"""Dataset producers: the toy dimuon sample written as a ROOT TTree, and the reader that
turns an events file into the feature table."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from mlhep import io
from mlhep.data.dimuon import physics as dimuon
from mlhep.data.dimuon.features import META_COLUMNS, engineer

#: Branch types of the dimuon events tree: kinematics in float64 so that the exact Bayes
#: discriminant is evaluated on exactly the generated values.
DIMUON_BRANCHES: dict[str, type] = {
    "event_id": np.int64,
    **{name: np.float64 for name in dimuon.LOW_LEVEL_FEATURES},
    "n_jets": np.int32,
    "label": np.int32,
    "weight": np.float64,
}


def physics_weights(
    n_signal: int, n_background: int, expected_signal: float, expected_background: float
) -> tuple[float, float]:
    """Per-event weights so that each class's weights sum to its expected yield."""
    return expected_signal / n_signal, expected_background / n_background


def generate_dimuon(
    path: str | os.PathLike[str],
    n_signal: int,
    n_background: int,
    expected_signal: float,
    expected_background: float,
    seed: int,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate the dimuon sample into a ROOT TTree ``events`` (atomically), chunk by chunk
    with bounded memory; return a record of counts, weights and acceptance efficiencies."""
    w_sig, w_bkg = physics_weights(n_signal, n_background, expected_signal, expected_background)
    tried = {"signal": 0, "background": 0}
    total = n_signal + n_background
    bar = tqdm(
        total=total,
        unit="ev",
        unit_scale=True,
        desc="generate dimuon",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
        ascii=True,
    )

    def columns():  # type: ignore[no-untyped-def]
        for chunk in dimuon.generate_chunks(n_signal, n_background, seed, w_sig, w_bkg):
            tried["signal"] += chunk.n_tried_signal
            tried["background"] += chunk.n_tried_background
            bar.update(len(chunk.latent))
            yield chunk.columns

    with bar:
        entries = io.write_root_tree(path, columns(), DIMUON_BRANCHES, title="toy dimuon events")
    return {
        "entries": entries,
        "n_signal": n_signal,
        "n_background": n_background,
        "weight_signal": w_sig,
        "weight_background": w_bkg,
        "expected_signal": expected_signal,
        "expected_background": expected_background,
        "acceptance_signal": n_signal / tried["signal"],
        "acceptance_background": n_background / tried["background"],
        "seed": seed,
        "chunk_size": dimuon.CHUNK_SIZE,
    }


def build_features(events_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The feature table of an events file: bookkeeping, low-level and engineered columns."""
    frame = io.read_root_tree(events_path, (*META_COLUMNS, *dimuon.LOW_LEVEL_FEATURES))
    frame = frame[[*META_COLUMNS, *dimuon.LOW_LEVEL_FEATURES]]
    return engineer(frame)
