"""Datasets as plug-ins: each dataset kind is one module that declares how its events are
produced (generated, or read from files), the columns of its feature table, its feature
engineering, its named feature sets and, where one exists, its exact limit.

The config selects datasets by name and kind (``datasets.<name>.kind``); everything else in
the workflow (rules, scripts, the report) reaches the physics only through
:func:`get_kind`. The registry maps each kind to the module that defines it, imported only
when asked for (pyhf's ``modifiers`` registry is the model), so that parsing the workflow
stays fast. Adding a kind is one module and one line in :data:`KINDS`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

#: Bookkeeping columns every feature table carries besides the features.
META_COLUMNS = ("event_id", "label", "weight")


class Task(StrEnum):
    """What a dataset's models learn; a ``str`` (``Task.CLASSIFICATION == "classification"``),
    so that configs, records and callers comparing with the plain strings keep working."""

    #: Signal against background (the label and weight columns): classifiers.
    CLASSIFICATION = "classification"
    #: The ``targets`` columns: regressors.
    REGRESSION = "regression"

    @property
    def model_kind(self) -> str:
        """The kind of model (``mlhep.models.ModelEntry.kind``) that learns this task."""
        return "classifier" if self is Task.CLASSIFICATION else "regressor"


@dataclass(frozen=True)
class ExactLimit:
    """The Bayes-optimal discriminant of a dataset whose densities are known.

    ``check(columns)`` raises ``ValueError`` (saying why) for a feature set whose limit is
    not exactly computable; ``scores(frame, columns)`` is the exact log-likelihood ratio of
    each event given what the columns carry.
    """

    check: Callable[[Sequence[str]], object]
    scores: Callable[[pd.DataFrame, Sequence[str]], np.ndarray]

    def available(self, columns: Sequence[str]) -> bool:
        """Whether the feature set ``columns`` has an exact limit."""
        try:
            self.check(columns)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class DatasetKind:
    """What a dataset plug-in declares.

    - ``settings_schema``: JSON schema (a mapping of properties) of its own config keys;
    - ``produce(events_path, settings, seed, dataset=name)`` writes the events (ROOT TTree
      ``events``) atomically and returns a JSON-able record (counts, weights, efficiencies);
    - ``build_features(events_path)`` turns the events into the feature table (the
      :data:`META_COLUMNS` and ``columns``);
    - ``feature_sets``: the named feature sets it offers by default;
    - ``labels``: an axis label (with unit) per column, for plots;
    - ``limit``: its exact Bayes-optimal discriminant, or ``None``;
    - ``default_models``: the models (by name: the config checks the names against the
      model registry) trained on which of its feature sets when the config does not say
      (``None``: every model of its task on every feature set);
    - ``task``: a :class:`Task`, ``classification`` (label and weight, classifiers) or
      ``regression`` (the ``targets`` columns, regressors); a plain string is converted;
    - ``layout(settings)``: the columns and default feature sets where they depend on the
      settings (the number of samples of a pulse), else ``columns`` and ``feature_sets``;
    - ``check(settings)``: what its schema cannot say, as (key, message) pairs;
    - ``inputs(settings)``: the files ``produce`` reads (the user's ntuples), so that a
      changed file re-runs what depends on it; ``None`` where it reads none;
    - ``seeded``: whether ``produce`` draws random numbers (the config's seed is then one of
      its inputs; the user's ntuples do not change with it);
    - ``learnable_by_generators``: whether the generative stage may learn a dataset of this
      kind (its exact physics is what the generators are judged by);
    - ``samples_generator``: whether its events are sampled from a generator of the
      generative stage (its ``generator`` setting names it);
    - ``reads_user_ntuples``: whether its events are read from the user's files (recorded
      or simulated elsewhere, such as the CMS open data with its Z peak), not made here.

    Code elsewhere asks these properties, never a kind's ``name``.
    """

    name: str
    description: str
    settings_schema: Mapping[str, Any]
    columns: tuple[str, ...]
    produce: Callable[..., dict[str, Any]]
    build_features: Callable[[str | os.PathLike[str]], pd.DataFrame]
    feature_sets: Mapping[str, Sequence[str]]
    labels: Mapping[str, str] = field(default_factory=dict)
    limit: ExactLimit | None = None
    default_models: Mapping[str, Sequence[str]] | None = None
    task: Task = Task.CLASSIFICATION
    targets: tuple[str, ...] = ()
    layout: (
        Callable[[Mapping[str, Any]], tuple[Sequence[str], Mapping[str, Sequence[str]]]] | None
    ) = None
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None
    inputs: Callable[[Mapping[str, Any]], list[str]] | None = None
    seeded: bool = True
    learnable_by_generators: bool = False
    samples_generator: bool = False
    reads_user_ntuples: bool = False

    def __post_init__(self) -> None:
        """A task given as a plain string becomes a :class:`Task` (``ValueError`` if none)."""
        object.__setattr__(self, "task", Task(self.task))

    @property
    def model_kind(self) -> str:
        """The kind of model (``mlhep.models.ModelEntry.kind``) this dataset's task trains."""
        return self.task.model_kind

    def columns_for(self, settings: Mapping[str, Any]) -> tuple[str, ...]:
        """The feature columns of a dataset with these settings."""
        return tuple(self.layout(settings)[0]) if self.layout else self.columns

    def feature_sets_for(self, settings: Mapping[str, Any]) -> dict[str, list[str]]:
        """The default feature sets of a dataset with these settings."""
        sets = self.layout(settings)[1] if self.layout else self.feature_sets
        return {name: list(columns) for name, columns in sets.items()}

    def label(self, column: str) -> str:
        """Axis label of a column (the column's name where the plug-in gives none)."""
        return self.labels.get(column, column)

    def limit_available(self, columns: Sequence[str]) -> bool:
        """Whether a feature set of this dataset has an exact limit."""
        return self.limit is not None and self.limit.available(columns)


#: Each dataset kind and the module that defines it (its attribute ``KIND``).
KINDS: dict[str, str] = {
    "dimuon": "mlhep.data.dimuon",
    "pulse": "mlhep.data.pulse",
    "root": "mlhep.data.ntuple",
    "generated": "mlhep.generative.dataset",
}


def get_kind(name: str) -> DatasetKind:
    """The plug-in of dataset kind ``name``; ``KeyError`` naming the known kinds."""
    if name not in KINDS:
        raise KeyError(f"unknown dataset kind {name!r}; known: {sorted(KINDS)}")
    kind = importlib.import_module(KINDS[name]).KIND
    if not isinstance(kind, DatasetKind) or kind.name != name:
        raise TypeError(f"{KINDS[name]}.KIND is not the DatasetKind {name!r}")
    return kind
