"""Generated events as a dataset: the ``generated`` kind samples a trained generator of the
generative stage (``generative.generators.<name>``) into a ROOT TTree with the toy's
branches, labels and weights, so that every downstream rule (features, splits, training,
evaluation, plots) runs on it unchanged.

Its feature table and feature sets are the toy's. It has no exact limit: the generated
density is the network's, not the toy's (how classifiers trained on generated events fare
on real ones is the generative stage's train-on-synthetic test).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlhep import io, paths
from mlhep.data import DatasetKind
from mlhep.data.dimuon import SETTINGS_SCHEMA as DIMUON_SCHEMA
from mlhep.data.dimuon.features import ALL_FEATURES, FEATURE_LABELS
from mlhep.data.dimuon.generate import DIMUON_BRANCHES, build_features, physics_weights

#: The config keys of a generated dataset (beside ``kind`` and the generic ones).
SETTINGS_SCHEMA: dict[str, Any] = {
    "generator": {
        "type": "string",
        "default": "",
        "description": (
            "The generator to sample: a name under `generative.generators` (the stage must be on)."
        ),
    },
    # the toy's own keys, with smaller default samples
    **{k: {**DIMUON_SCHEMA[k], "default": 100000} for k in ("n_signal", "n_background")},
    **{k: DIMUON_SCHEMA[k] for k in ("expected_signal", "expected_background")},
}


def generator_path(name: str) -> str:
    """The saved generator ``name`` of the generative stage."""
    return paths.fill(paths.GENERATOR_FILES["generator"], generator=name)


def inputs(settings: Mapping[str, Any]) -> list[str]:
    """The generator file: a retrained generator re-samples its dataset."""
    return [generator_path(settings["generator"])] if settings.get("generator") else []


def check(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A generated dataset must name its generator."""
    if not settings.get("generator"):
        return [("generator", "a generated dataset names the generator it samples")]
    return []


def produce(
    events_path: str | os.PathLike[str],
    settings: Mapping[str, Any],
    seed: int,
    *,
    dataset: str = "",
) -> dict[str, Any]:
    """Sample the generator into the events tree (classes shuffled, the toy's weights)."""
    # imported here, so that reading the plug-in imports no torch
    from mlhep.generative import sampling

    generator = sampling.load(generator_path(settings["generator"]))
    n_signal, n_background = settings["n_signal"], settings["n_background"]
    rng = np.random.default_rng([seed, 3])  # not the sampler's stream
    labels = rng.permutation(np.r_[np.ones(n_signal, np.int64), np.zeros(n_background, np.int64)])
    start = time.perf_counter()
    frame, tried = generator.sample(labels, seed)
    seconds = time.perf_counter() - start
    w_sig, w_bkg = physics_weights(
        n_signal, n_background, settings["expected_signal"], settings["expected_background"]
    )
    columns = {"event_id": np.arange(len(frame), dtype=np.int64)}
    for name, dtype in DIMUON_BRANCHES.items():
        if name not in ("event_id", "weight"):
            columns[name] = frame[name].to_numpy().astype(dtype)
    columns["weight"] = np.where(labels == 1, w_sig, w_bkg)
    entries = io.write_root_tree(
        events_path,
        [columns],
        DIMUON_BRANCHES,
        title=f"events of generator {settings['generator']}",
    )
    return {
        "entries": entries,
        "generator": settings["generator"],
        "n_signal": n_signal,
        "n_background": n_background,
        "weight_signal": w_sig,
        "weight_background": w_bkg,
        "mass_range_acceptance_signal": n_signal / tried["signal"],
        "mass_range_acceptance_background": n_background / tried["background"],
        "events_per_second": len(frame) / seconds,
        "seed": seed,
    }


KIND = DatasetKind(
    name="generated",
    description="events sampled from a trained generator of the generative stage",
    settings_schema=SETTINGS_SCHEMA,
    columns=ALL_FEATURES,
    produce=produce,
    build_features=build_features,
    feature_sets={
        "low": list(ALL_FEATURES[:9]),
        "high": list(ALL_FEATURES[9:]),
        "all": list(ALL_FEATURES),
    },
    labels=FEATURE_LABELS,
    check=check,
    inputs=inputs,
    samples_generator=True,
)
