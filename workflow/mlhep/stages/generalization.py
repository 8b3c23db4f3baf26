"""Generalization studies (``studies.generalization``): one job per grid point, a summary
per study, and every study's point chosen on validation in one table. The studies
themselves (runners, axes, choice) are the registry :data:`mlhep.studies.generalization.
STUDIES`; this stage says which run, on which dataset, and what each point's job reads.
"""

from __future__ import annotations

import zlib
from typing import Any

from mlhep import paths
from mlhep.core import GENERALIZATION_EXPERIMENT, canonical
from mlhep.models import MODELS, ModelKind
from mlhep.stages import Stage
from mlhep.studies.generalization import STUDIES, StudyData, grid_points

KEY = "studies.generalization"


class GeneralizationStage(Stage):
    """The switched-on generalization studies and their grid points."""

    name = "generalization"
    key = KEY
    sections = ("generalization",)

    def dataset_name(self) -> str | None:
        """The dataset the dataset studies name: ``studies.generalization.dataset``, or the
        first active classification dataset (``None`` if there is none)."""
        datasets = self.analysis.classification_datasets
        name = self.section["dataset"]
        return name if name is not None else (datasets[0] if datasets else None)

    def dataset(self) -> str | None:
        """The dataset the dataset studies train on; ``None`` if it is not active."""
        name = self.dataset_name()
        return name if name in self.analysis.classification_datasets else None

    def studies(self) -> list[str]:
        """The switched-on studies, in registry order (a dataset study only when its dataset
        is active)."""
        if not self.section["activate"]:
            return []
        return [
            s
            for s, entry in STUDIES.items()
            if self.section[s]["activate"]
            and (entry.data is not StudyData.DATASET or self.dataset() is not None)
        ]

    def errors(self) -> list[str]:
        """The studies' dataset, feature sets, models and grids."""
        section, config = self.section, self.config
        if not section["activate"]:
            return []
        messages, key = [], f"config key '{KEY}"
        if GENERALIZATION_EXPERIMENT in config["datasets"]:
            messages.append(
                f"config key 'datasets.{GENERALIZATION_EXPERIMENT}': the name is taken by the "
                "MLflow experiment of the generalization studies"
            )
        name = self.dataset_name()
        dataset = config["datasets"].get(name) if name is not None else None
        wanted = [
            s for s, e in STUDIES.items() if e.data is StudyData.DATASET and section[s]["activate"]
        ]
        if wanted and section["dataset"] is not None and dataset is None:
            messages.append(
                f"{key}.dataset': no dataset {name!r} (studies {wanted} need one; "
                f"datasets: {sorted(config['datasets'])})"
            )
        for study, entry in STUDIES.items():
            settings = section[study]
            if not settings["activate"]:
                continue
            try:
                grid_points(study, settings)
            except ValueError as error:
                messages.append(str(error))
            if entry.data is not StudyData.DATASET or dataset is None or not dataset["activate"]:
                continue
            task = self.analysis.kind(name).task
            if task != "classification":
                messages.append(
                    f"{key}.dataset': {name!r} is a {task} dataset; the studies {wanted} need "
                    "a classification one"
                )
                break
            if "features" in settings and settings["features"] not in dataset["feature_sets"]:
                messages.append(
                    f"{key}.{study}.features': dataset {name!r} has no feature set "
                    f"{settings['features']!r} (it has {sorted(dataset['feature_sets'])})"
                )
            for model in settings.get("model", []):
                if model not in MODELS or MODELS[model].kind != ModelKind.CLASSIFIER:
                    messages.append(
                        f"{key}.{study}.model': {model!r} is not a classifier of "
                        f"models.<name> ({sorted(MODELS)})"
                    )
        return messages

    def status(self) -> dict[str, str | None]:
        """On while a study is."""
        if self.studies():
            return {"generalization": None}
        return {
            "generalization": f"switched off in the config (`{KEY}.activate` and each "
            "study's `activate`)"
        }

    def files(self, study: str) -> dict[str, str]:
        """A study's summary, its table of points and its figure."""
        return paths.fill_all(paths.GENERALIZATION_FILES, study=study)

    def manifest(self) -> dict[str, Any]:
        """Every study's files and the selection table."""
        studies = self.studies()
        if not studies:
            return {"generalization": None}
        return {
            "generalization": {
                "studies": {s: self.files(s) for s in studies},
                "selection": paths.SELECTION_CSV,
            }
        }

    def targets(self) -> list[str]:
        """The selection's Markdown table."""
        return [paths.SELECTION_MD] if self.studies() else []

    # --- params of the rules ----------------------------------------------------------------
    def points(self, study: str) -> dict[str, dict[str, Any]]:
        """A study's grid points by name, in grid order."""
        return grid_points(study, self.section[study])

    def point(self, study: str, name: str) -> dict[str, Any]:
        """One grid point; ``KeyError`` naming the grid if the name is not on it."""
        points = self.points(study)
        if name not in points:
            raise KeyError(f"{name!r} is not a point of {KEY}.{study}: {sorted(points)}")
        return points[name]

    def point_file(self, study: str, name: str) -> str:
        """The result of one grid point."""
        return paths.fill(paths.STUDY_POINT, study=study, point=name)

    def point_files(self, study: str) -> list[str]:
        """The results of every point of a study."""
        return [self.point_file(study, name) for name in self.points(study)]

    def chunk_of(self, name: str) -> int:
        """The job of a cheap study that runs point ``name``: a stable hash of the name, so
        that a new grid value joins one job and leaves the others as they were."""
        return zlib.crc32(name.encode()) % int(self.section["chunks"])

    def chunks(self, study: str) -> dict[int, list[str]]:
        """A chunked study's jobs (those with points), each with its points in grid order."""
        out: dict[int, list[str]] = {}
        for name in self.points(study):
            out.setdefault(self.chunk_of(name), []).append(name)
        return dict(sorted(out.items()))

    def chunk_points(self, study: str, chunk: int) -> dict[str, dict[str, Any]]:
        """The points of one job of a chunked study, by name, in grid order."""
        names = self.chunks(study).get(int(chunk))
        if not names:
            raise KeyError(f"study {study!r} has no points in chunk {chunk}")
        return {name: self.point(study, name) for name in names}

    def chunk_file(self, study: str, chunk: int) -> str:
        """The records of one job of a chunked study."""
        return paths.fill(paths.STUDY_CHUNK, study=study, chunk=chunk)

    def result_files(self, study: str) -> list[str]:
        """The files holding a study's point records: one per job of a chunked study, one
        per point of the others."""
        if STUDIES[study].chunked:
            return [self.chunk_file(study, chunk) for chunk in self.chunks(study)]
        return self.point_files(study)

    def chunk_settings(self, study: str, chunk: int) -> dict[str, Any]:
        """What one job of a chunked study depends on: its points' settings (the same for
        every point of a study without a model axis) and their grid values."""
        points = self.chunk_points(study, chunk)
        settings = {name: self.settings(study, name) for name in points}
        shared = next(iter(settings.values()))
        if any(value != shared for value in settings.values()):
            raise ValueError(f"the points of chunked study {study!r} differ in their settings")
        return shared

    def settings(self, study: str, name: str) -> dict[str, Any]:
        """What a point's job depends on besides its grid values: the study's own keys (not
        its grid), the pulse or the dataset's columns, and the settings of the model it
        starts from (a point of the learning curve: its own model's only), so that adding a
        grid value leaves every other point's job unchanged."""
        entry, section = STUDIES[study], self.section
        settings = {k: v for k, v in section[study].items() if k not in ("activate", *entry.axes)}
        if entry.data is StudyData.PULSE:
            settings["pulse"] = dict(section["pulse"])
        if entry.data is StudyData.DATASET:
            dataset = self.dataset()
            settings["dataset"] = dataset
            settings["columns"] = self.analysis.columns(dataset, settings["features"])
            settings["n_validation"] = section["n_validation"]
        model = entry.model_of(self.point(study, name))
        if model is not None:  # less what the grid sets: a change there changes no point
            hp = self.analysis.hyperparameters(model)
            settings["model"] = {k: v for k, v in hp.items() if k not in entry.axes}
        return canonical(settings)

    def limit(self, study: str) -> str | None:
        """The limit file whose AUC a dataset study is drawn against (``None`` where the
        limit stage does not compute its feature set)."""
        entry, section = STUDIES[study], self.section
        if entry.data is not StudyData.DATASET or "features" not in section[study]:
            return None
        dataset = self.dataset()
        if dataset is not None and section[study]["features"] in self.analysis.limit_sets(dataset):
            return self.analysis.limit_file(dataset)
        return None

    def inputs(self, study: str) -> dict[str, str]:
        """The input files of a study's points: the MLflow store and, for a dataset study,
        the dataset's splits."""
        inputs = {"experiments": paths.MLFLOW_READY}
        if STUDIES[study].data is StudyData.DATASET:
            inputs.update(self.analysis.split_files(self.dataset()))
        return inputs

    def features(self, study: str) -> str | None:
        """The feature set a study trains on (``None``: it generates its own data)."""
        return self.section[study].get("features")


STAGE = GeneralizationStage
