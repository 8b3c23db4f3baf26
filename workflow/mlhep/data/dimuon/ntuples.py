"""The toy's events as a user would bring them: separate signal and background ntuples in
another layout (NanoAOD-like: a jagged ``Muon`` collection in pT order, a jagged ``Jet``
collection, ``MET_pt``, ``genWeight``), and the ``root`` dataset settings that read them
back into the toy's feature columns. Reading them back must give the generated dataset's
features exactly (a test): the ``root`` kind's proof on events whose truth is known.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pandas as pd
import uproot

from mlhep import io

#: The tree name of the user-style ntuples (deliberately not the workflow's ``events``).
USER_TREE = "Events"


def _muons(frame: pd.DataFrame) -> ak.Array:
    """Two muons per event, leading pT first, with their charges (the toy's mu-, mu+)."""
    minus_first = frame["mu_minus_pt"].to_numpy() >= frame["mu_plus_pt"].to_numpy()
    fields = {}
    for field in ("pt", "eta", "phi"):
        m, p = frame[f"mu_minus_{field}"].to_numpy(), frame[f"mu_plus_{field}"].to_numpy()
        fields[field] = np.stack([np.where(minus_first, m, p), np.where(minus_first, p, m)], axis=1)
    fields["charge"] = np.stack(
        [np.where(minus_first, -1, 1), np.where(minus_first, 1, -1)], axis=1
    ).astype(np.int32)
    return ak.zip({k: ak.from_regular(ak.Array(v)) for k, v in fields.items()})


def _jets(n_jets: np.ndarray) -> ak.Array:
    """``n_jets`` jets per event (the toy has only their number; their pT are a
    placeholder falling ladder, 30, 25, 20, ... GeV)."""
    counts = np.asarray(n_jets, dtype=np.int64)
    index = ak.local_index(ak.unflatten(np.zeros(counts.sum()), counts))
    return ak.zip({"pt": 30.0 - 5.0 * ak.values_astype(index, np.float64)})


def user_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """A toy feature table's events in the user layout (``Muon`` and ``Jet`` jagged)."""
    return {
        "event": frame["event_id"].to_numpy(dtype=np.int64),
        "Muon": _muons(frame),
        "Jet": _jets(frame["n_jets"].to_numpy()),
        "MET_pt": frame["met"].to_numpy(dtype=np.float64),
        "MET_phi": frame["met_phi"].to_numpy(dtype=np.float64),
        "genWeight": frame["weight"].to_numpy(dtype=np.float64),
    }


def branch_types(columns: dict[str, Any]) -> dict[str, Any]:
    """The ``mktree`` types of user-layout columns (a jagged collection's record type)."""
    return {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in columns.items()}


def write_user_ntuples(
    features: pd.DataFrame, directory: str | os.PathLike[str], compression: Any = None
) -> dict[str, Path]:
    """Write a toy feature table's signal and background as ``signal.root`` and
    ``background.root`` (tree :data:`USER_TREE`), atomically; return their paths."""
    compression = io.COMPRESSION if compression is None else compression
    paths = {}
    for source, label in (("signal", 1), ("background", 0)):
        columns = user_columns(features[features["label"] == label])
        path = Path(directory) / f"{source}.root"
        with io.atomic_path(path) as tmp, uproot.recreate(tmp, compression=compression) as file:
            title = f"toy dimuon {source}, user layout"
            file.mktree(USER_TREE, branch_types(columns), title=title).extend(columns)
        paths[source] = path
    return paths


def user_ntuple_settings(paths: Mapping[str, str | os.PathLike[str]]) -> dict[str, Any]:
    """The ``root`` dataset settings that read :func:`write_user_ntuples`' files back into
    the toy's columns (charge-ordered muons, n_jets, met, met_phi, the pair observables)."""
    source = {
        "tree": USER_TREE,
        "collections": {
            "mu": {
                "fields": {
                    "pt": "Muon_pt",
                    "eta": "Muon_eta",
                    "phi": "Muon_phi",
                    "charge": "Muon_charge",
                },
                "rule": "opposite_charge_pair",
                "sort_by": "pt",
                "charge": "charge",
            },
            "jet": {"fields": {"pt": "Jet_pt"}, "rule": "leading", "sort_by": "pt", "n": 2},
        },
        "weight": "genWeight",
        "event_id": "event",
    }
    return {
        "kind": "root",
        "signal": {**source, "files": [str(paths["signal"])]},
        "background": {**source, "files": [str(paths["background"])]},
        "features": {
            **{
                f"mu_{q}_{v}": f"mu_{q}_{v}"
                for q in ("minus", "plus")
                for v in ("pt", "eta", "phi")
            },
            "n_jets": "jet_count",
            "met": "MET_pt",
            "met_phi": "MET_phi",
        },
        "engineer": "dimuon",
    }
