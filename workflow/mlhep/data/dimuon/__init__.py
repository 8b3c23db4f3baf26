"""The toy dimuon dataset: a 125 GeV resonance over a falling continuum, generated from
exact densities (:mod:`.physics`), its engineered pair observables (:mod:`.features`) and
its exact Bayes-optimal limit. The first dataset plug-in (:class:`mlhep.data.DatasetKind`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mlhep.data import DatasetKind, ExactLimit
from mlhep.data.dimuon.features import ALL_FEATURES, FEATURE_LABELS, bayes_latents, bayes_scores
from mlhep.data.dimuon.generate import build_features, generate_dimuon

#: The config keys of a dimuon dataset (beside ``kind`` and the generic ones).
SETTINGS_SCHEMA: dict[str, Any] = {
    "n_signal": {
        "type": "integer",
        "minimum": 1,
        "default": 333333,
        "description": "Signal events to generate (after acceptance).",
    },
    "n_background": {
        "type": "integer",
        "minimum": 1,
        "default": 333333,
        "description": "Background events to generate (after acceptance).",
    },
    "expected_signal": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 1000,
        "description": (
            "Expected signal yield: the signal weights sum to it (whole sample and each split)."
        ),
    },
    "expected_background": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 100000,
        "description": "Expected background yield: the background weights sum to it.",
    },
}


def produce(
    events_path: str | os.PathLike[str],
    settings: Mapping[str, Any],
    seed: int,
    *,
    dataset: str = "",
) -> dict[str, Any]:
    """Generate the events of one dimuon dataset from its config settings."""
    return generate_dimuon(
        events_path,
        n_signal=settings["n_signal"],
        n_background=settings["n_background"],
        expected_signal=settings["expected_signal"],
        expected_background=settings["expected_background"],
        seed=seed,
    )


KIND = DatasetKind(
    name="dimuon",
    description="toy dimuon events with exact densities and an exact Bayes limit",
    settings_schema=SETTINGS_SCHEMA,
    columns=ALL_FEATURES,
    produce=produce,
    build_features=build_features,
    feature_sets={
        "low": list(ALL_FEATURES[:9]),
        "high": list(ALL_FEATURES[9:]),
        "all": list(ALL_FEATURES),
        # one pair variable: its exact limit needs the acceptance correction
        "angle": ["cos_theta_star"],
    },
    labels=FEATURE_LABELS,
    limit=ExactLimit(check=bayes_latents, scores=bayes_scores),
    # every classifier on every full set, but the one shallow tree, drawn to be read, on
    # `high`; the tree ensembles also on `angle`, where they meet the acceptance-corrected
    # limit; the autoencoder (unsupervised) on the muons alone and with the pair observables
    default_models={
        **{
            m: ["low", "high", "all"]
            for m in ("perceptron", "logistic", "fisher", "linear_mse", "linear_bce")
        },
        "hist_gbdt": ["low", "high", "all", "angle"],
        "bdt": ["low", "high", "all", "angle"],
        "ann": ["low", "high", "all"],
        "autoencoder": ["low", "all"],
        "decision_tree": ["high"],
    },
    # the generators learn a dimuon dataset: its exact physics judges them
    learnable_by_generators=True,
)
