"""The data stage: every active dataset's events, features and splits (rules ``generate``,
``features``, ``plot_features``, ``split``) and the MLflow store they log to."""

from __future__ import annotations

from typing import Any

from mlhep import paths
from mlhep.core import canonical
from mlhep.stages import Stage


class DataStage(Stage):
    """Events, features and splits of each active dataset."""

    name = "data"
    sections = ("data",)

    def status(self) -> dict[str, str | None]:
        """On while any dataset is active."""
        if self.analysis.datasets:
            return {"data": None}
        return {"data": "no data set is switched on (`datasets.<name>.activate`)"}

    def manifest(self) -> dict[str, Any]:
        """The tracking store's record (the report's links to the MLflow UI)."""
        return {"experiments": paths.MLFLOW_READY}

    # --- params of the data rules -------------------------------------------------------------
    def producer_settings(self, dataset: str) -> dict[str, Any]:
        """A dataset's kind and its kind's own keys (not its feature sets, limits or models,
        which do not change the events)."""
        settings = self.analysis.settings(dataset)
        keys = ("kind", *self.analysis.kind(dataset).settings_schema)
        return canonical({k: v for k, v in settings.items() if k in keys})

    def inputs(self, dataset: str) -> list[str]:
        """The files a dataset's plug-in reads (a root dataset's ntuples; none for toys)."""
        kind = self.analysis.kind(dataset)
        return kind.inputs(self.analysis.settings(dataset)) if kind.inputs else []

    def seed(self, dataset: str) -> int | None:
        """The seed of a dataset's producer; none for a kind that draws nothing (the user's
        ntuples: a new seed must not re-read them)."""
        return self.config["seed"] if self.analysis.kind(dataset).seeded else None


STAGE = DataStage
