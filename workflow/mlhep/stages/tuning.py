"""Hyper-parameter searches (``studies.tuning``): for each searched model and feature set of
one classification dataset, an Optuna study shared by ``workers`` parallel jobs, the best
trial retrained and evaluated on test like any model, and a summary against the default
settings and the exact limit (:mod:`mlhep.studies.tuning`). Off by default: a search costs
its trials' trainings."""

from __future__ import annotations

from typing import Any

from mlhep import paths
from mlhep.core import canonical
from mlhep.models.base import hyperparameters
from mlhep.stages import Stage

KEY = "studies.tuning"


class TuningStage(Stage):
    """The searches of the configured dataset."""

    name = "tuning"
    key = KEY
    sections = ("tuning",)

    def dataset(self) -> str | None:
        """The searched dataset (``None``: the stage is off): the configured one, or the
        first active classification dataset."""
        if not self.section["activate"]:
            return None
        datasets = self.analysis.classification_datasets
        name = self.section["dataset"]
        if name is not None:
            return name if name in datasets else None
        return datasets[0] if datasets else None

    def errors(self) -> list[str]:
        """The dataset, the searched models and feature sets, and every space, each message
        naming its key."""
        from mlhep.studies.tuning import TUNABLE, space_errors

        section, key = self.section, f"config key '{KEY}"
        if not section["activate"]:
            return []
        messages = []
        name = section["dataset"]
        datasets = self.analysis.classification_datasets
        if name is not None and name not in datasets:
            messages.append(
                f"{key}.dataset': {name!r} is not an active classification dataset "
                f"(those: {datasets})"
            )
        dataset = self.dataset()
        sets = self.analysis.feature_sets(dataset) if dataset else {}
        for model, features in section["searches"].items():
            if model not in TUNABLE:
                messages.append(
                    f"{key}.searches.{model}': cannot be tuned (tunable: {sorted(TUNABLE)})"
                )
                continue
            unknown = [f for f in features if f not in sets]
            if dataset and unknown:
                messages.append(
                    f"{key}.searches.{model}': dataset {dataset!r} has no feature set(s) "
                    f"{unknown} (its sets: {sorted(sets)})"
                )
            if model not in section["spaces"]:
                messages.append(f"{key}.spaces.{model}': the searched model needs a space")
        for model, space in section["spaces"].items():
            if model not in self.config["models"]:
                messages.append(f"{key}.spaces.{model}': no model {model!r}")
                continue
            settings = hyperparameters(self.config["models"][model])
            messages += space_errors(f"{KEY}.spaces.{model}", space, settings)
        if section["storage"] != "journal" and "://" not in section["storage"]:
            messages.append(
                f"{key}.storage': 'journal' or a database URL (postgresql://..., sqlite:///...), "
                f"got {section['storage']!r}"
            )
        return messages

    def searches(self) -> list[tuple[str, str, str]]:
        """(dataset, model, feature set) of every search, in config order."""
        dataset = self.dataset()
        if dataset is None:
            return []
        return [(dataset, m, f) for m, sets in self.section["searches"].items() for f in sets]

    def models(self) -> list[str]:
        """The searched models (the rules' ``{model}`` in the tuning folder)."""
        return list(dict.fromkeys(m for _, m, _ in self.searches()))

    def search(self, dataset: str, model: str, features: str) -> dict[str, Any]:
        """What a search means (a :class:`mlhep.studies.tuning.Search`'s fields): a change
        here starts its study afresh; the trial count and the workers are not in it (more
        trials continue the study)."""
        s = self.section
        return canonical(
            {
                "dataset": dataset,
                "model": model,
                "features": features,
                "columns": self.analysis.columns(dataset, features),
                "settings": self.analysis.hyperparameters(model),
                "space": s["spaces"][model],
                "objective": s["objective"],
                "sampler": s["sampler"],
                "pruner": s["pruner"],
                "storage": s["storage"],
                "seed": self.config["seed"],
                "startup_trials": s["startup_trials"],
            }
        )

    def workers(self) -> list[str]:
        """The worker indices (the rules' ``{worker}``)."""
        return [str(k) for k in range(self.section["workers"])]

    def worker_files(self, dataset: str, model: str, features: str) -> list[str]:
        """Every worker's record of one search."""
        return [
            paths.fill(
                paths.TUNING_WORKER, dataset=dataset, model=model, features=features, worker=k
            )
            for k in self.workers()
        ]

    def summaries(self) -> list[str]:
        """Every search's summary (the table's inputs)."""
        return [
            paths.fill(paths.TUNING_FILES["summary"], dataset=d, model=m, features=f)
            for d, m, f in self.searches()
        ]

    def status(self) -> dict[str, str | None]:
        """Section 11 shows the searches, if any run."""
        if self.searches():
            return {"tuning": None}
        return {"tuning": f"no search runs (`{KEY}.activate`, `{KEY}.searches`)"}

    def manifest(self) -> dict[str, Any]:
        """The table and each search's figures (section 11)."""
        if not self.searches():
            return {}
        return {
            "tuning": {
                "table": paths.TUNING_CSV,
                "searches": {
                    f"{m} on {f}": paths.fill_all(
                        paths.TUNING_FILES, dataset=d, model=m, features=f
                    )
                    for d, m, f in self.searches()
                },
            }
        }

    def targets(self) -> list[str]:
        """The Markdown table (the manifest holds the rest)."""
        return [paths.TUNING_MD] if self.searches() else []


STAGE = TuningStage
