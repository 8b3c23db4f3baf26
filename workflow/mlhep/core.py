"""The analysis's core: the datasets, the (model, feature set) pairs trained on each, their
columns, limits and splits, the MLflow experiments, and canonical params. Every stage
(:mod:`mlhep.stages`) is built on this one view of a validated config; nothing here knows a
stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from mlhep import paths
from mlhep.data import DatasetKind, Task, get_kind
from mlhep.models import MODELS
from mlhep.models.base import hyperparameters

SPLITS = ("train", "validation", "test")
#: The MLflow experiment (after the prefix) of the generalization studies.
GENERALIZATION_EXPERIMENT = "generalization"


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively: a rule's params in a form
    that does not depend on the order of keys in a config file or ``--config`` (Snakemake
    compares params by their repr, so reordering keys alone would re-run jobs)."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


class Analysis:
    """Datasets by models: what a validated config (:func:`mlhep.config.validate_config`)
    trains, on which columns, with which limits."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    # --- datasets ---------------------------------------------------------------------------
    @cached_property
    def datasets(self) -> list[str]:
        """The active datasets, in config order."""
        return [name for name, ds in self.config["datasets"].items() if ds["activate"]]

    def kind(self, dataset: str) -> DatasetKind:
        """The plug-in of a dataset."""
        return get_kind(self.config["datasets"][dataset]["kind"])

    def datasets_of(self, task: Task) -> list[str]:
        """The active datasets of one task, in config order."""
        return [d for d in self.datasets if self.kind(d).task == task]

    @cached_property
    def classification_datasets(self) -> list[str]:
        """The active datasets whose task is classification (the classifier stages)."""
        return self.datasets_of(Task.CLASSIFICATION)

    @cached_property
    def regression_datasets(self) -> list[str]:
        """The active datasets whose task is regression (the pulse stages)."""
        return self.datasets_of(Task.REGRESSION)

    def settings(self, dataset: str) -> Mapping[str, Any]:
        """A dataset's config section."""
        return self.config["datasets"][dataset]

    def feature_sets(self, dataset: str) -> dict[str, list[str]]:
        """The named feature sets of a dataset."""
        return dict(self.settings(dataset)["feature_sets"])

    def columns(self, dataset: str, features: str) -> list[str]:
        """The columns of one feature set."""
        return list(self.settings(dataset)["feature_sets"][features])

    def all_columns(self, dataset: str) -> list[str]:
        """Every feature column of a dataset (a root dataset's follow its config)."""
        return list(self.kind(dataset).columns_for(self.settings(dataset)))

    def description(self, dataset: str) -> dict[str, str]:
        """What the report says of any dataset: its kind, the kind's description, and its
        generation and split records."""
        kind = self.kind(dataset)
        return {
            "kind": kind.name,
            "description": kind.description,
            "generation": paths.fill(paths.GENERATION, dataset=dataset),
            "splits": paths.fill(paths.SPLITS_RECORD, dataset=dataset),
        }

    def split_files(self, dataset: str) -> dict[str, str]:
        """The three splits of a dataset."""
        return {s: paths.fill(paths.SPLIT, dataset=dataset, split=s) for s in SPLITS}

    # --- models ---------------------------------------------------------------------------
    def model_on(self, model: str) -> bool:
        """Whether a model is switched on (``models.<name>.activate``)."""
        return bool(self.config["models"][model]["activate"])

    def hyperparameters(self, model: str) -> dict[str, Any]:
        """A model's settings that change its results, keys sorted."""
        return canonical(hyperparameters(self.config["models"][model]))

    def trained(self, dataset: str) -> list[tuple[str, str]]:
        """(model, feature set) pairs trained on a dataset, models in registry order."""
        chosen = self.settings(dataset)["models"]
        return [(m, f) for m in MODELS if m in chosen and self.model_on(m) for f in chosen[m]]

    def trained_sets(self, dataset: str) -> list[str]:
        """Feature sets some model trains on, in config order."""
        used = {f for _, f in self.trained(dataset)}
        return [f for f in self.feature_sets(dataset) if f in used]

    def models_on(self, dataset: str, features: str) -> list[str]:
        """The models trained on one feature set of a dataset."""
        return [m for m, f in self.trained(dataset) if f == features]

    def feature_sets_of(self, dataset: str, model: str) -> list[str]:
        """The feature sets a model trains on in a dataset."""
        return [f for m, f in self.trained(dataset) if m == model]

    @staticmethod
    def model_files(dataset: str, model: str, features: str) -> dict[str, str]:
        """What a training job writes: the model directory, predictions and record."""
        return paths.fill_all(paths.MODEL_FILES, dataset=dataset, model=model, features=features)

    def curve_models(self, dataset: str) -> list[str]:
        """Trained models that record per-step training curves."""
        return [m for m in MODELS if MODELS[m].curves and self.feature_sets_of(dataset, m)]

    @staticmethod
    def gpu_models() -> list[str]:
        """Models that can train on a GPU."""
        return [m for m, entry in MODELS.items() if entry.gpu]

    # --- exact limits -----------------------------------------------------------------------
    def has_limit(self, dataset: str, features: str) -> bool:
        """Whether a feature set of a dataset has an exact limit."""
        return self.kind(dataset).limit_available(self.columns(dataset, features))

    def limit_sets(self, dataset: str) -> list[str]:
        """Feature sets whose limit the stage ``bayes_optimal`` computes (empty: off)."""
        return list(self.settings(dataset)["limit"])

    def calibration_sets(self, dataset: str) -> list[str]:
        """Trained feature sets with an exact limit: their probabilities meet the truth."""
        return [f for f in self.trained_sets(dataset) if self.has_limit(dataset, f)]

    def limit_file(self, dataset: str) -> str | None:
        """A dataset's limit file (``None`` where its limit stage is off)."""
        return paths.fill(paths.LIMIT, dataset=dataset) if self.limit_sets(dataset) else None

    # --- tracking ---------------------------------------------------------------------------
    def experiments(self) -> list[str]:
        """MLflow experiments: one per active dataset, Iris for the lecture, and one for the
        generalization studies (always: switching a study on must not re-run the store's
        rule and with it every job that logs); sorted, so that reordering the config's
        datasets re-runs nothing."""
        iris = self.config["lecture"]["perceptron_iris"]["activate"]
        return sorted(self.datasets) + (["iris"] if iris else []) + [GENERALIZATION_EXPERIMENT]
