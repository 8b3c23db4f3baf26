"""Train / validation / test splits: stratified by label, seeded, with recorded hashes.

Each class is permuted with its own seeded generator and cut at the configured fractions,
so the class proportions are equal in every split (to one event) and the same seed always
gives the same splits. Event weights are rescaled per split and class so that every split
alone corresponds to the full expected yields (metrics such as AMS read them directly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

SPLIT_NAMES = ("train", "validation", "test")


def split_indices(
    labels: np.ndarray, fractions: Mapping[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Row indices of each split, stratified by label; sorted within each split.

    ``fractions`` maps each of :data:`SPLIT_NAMES` to a fraction; they must sum to 1.
    """
    if set(fractions) != set(SPLIT_NAMES):
        raise KeyError(f"split fractions need exactly {SPLIT_NAMES}, got {sorted(fractions)}")
    if not np.isclose(sum(fractions.values()), 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"split fractions sum to {sum(fractions.values())}, not 1")
    labels = np.asarray(labels)
    out: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for k, cls in enumerate(np.unique(labels)):
        rows = np.flatnonzero(labels == cls)
        rng = np.random.default_rng([seed, k])
        rows = rows[rng.permutation(len(rows))]
        bounds = np.round(np.cumsum([fractions[n] for n in SPLIT_NAMES]) * len(rows)).astype(int)
        for name, part in zip(SPLIT_NAMES, np.split(rows, bounds[:-1]), strict=True):
            out[name].append(part)
    return {name: np.sort(np.concatenate(parts)) for name, parts in out.items()}


def ids_digest(event_ids: np.ndarray) -> str:
    """SHA-256 of the sorted event ids (little-endian int64): the split's fingerprint."""
    ids = np.sort(np.asarray(event_ids, dtype="<i8"))
    return hashlib.sha256(ids.tobytes()).hexdigest()


def make_splits(
    frame: pd.DataFrame, fractions: Mapping[str, float], seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Split a table with ``event_id``, ``label`` and ``weight`` columns; return the parts and
    a record of each (size, events per class, sum of weights per class, id digest)."""
    index = split_indices(frame["label"].to_numpy(), fractions, seed)
    parts: dict[str, pd.DataFrame] = {}
    record: dict[str, dict] = {}
    for name, rows in index.items():
        part = frame.iloc[rows].reset_index(drop=True)
        weight = part["weight"].to_numpy(dtype=float).copy()
        for cls in np.unique(frame["label"]):
            in_all = frame["label"].to_numpy() == cls
            in_part = part["label"].to_numpy() == cls
            if in_part.any():
                weight[in_part] *= frame["weight"].to_numpy()[in_all].sum() / weight[in_part].sum()
        part["weight"] = weight
        labels = part["label"].to_numpy()
        record[name] = {
            "fraction": float(fractions[name]),
            "n_events": len(part),
            "n_signal": int((labels == 1).sum()),
            "n_background": int((labels == 0).sum()),
            "sum_weight_signal": float(weight[labels == 1].sum()),
            "sum_weight_background": float(weight[labels == 0].sum()),
            "event_ids_sha256": ids_digest(part["event_id"].to_numpy()),
        }
        parts[name] = part
    return parts, record
