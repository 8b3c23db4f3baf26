"""Model studies: what a trained model shows beyond its metrics (the drawn decision tree,
the BDT's SHAP values, the ANN's permutation importance) and the ensembles whose per-event
spread is an uncertainty (a deep ensemble of ANNs, a bootstrap ensemble of BDTs).

:data:`MODEL_STUDIES` is the one registry: each study's model, switch, files, figure and
presentation, and for an ensemble how its members differ. Adding a study is one entry here,
its rule and script (an ensemble needs neither: one rule trains them all) and its config
keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlhep import paths
from mlhep.core import canonical
from mlhep.stages import Stage


@dataclass(frozen=True)
class ModelStudy:
    """One model study: what it needs, where it writes and how the report shows it."""

    model: str  # models.<name> the study reads or trains
    title: str  # the report's heading
    section: str  # the report section showing it
    result: str  # the file its job writes (its figure beside it)
    figure: str
    switch: str | None = None  # studies.<switch>.activate (None: on with its model)
    ensemble: bool = False  # trains its own members on studies.<name>.feature_set
    members: str = ""  # what the ensemble's members are, in words
    seed_offset: int = 0  # an ensemble's member k trains with seed: seed + offset + k
    bootstrap: bool = False  # an ensemble's members train on resamples of the train split
    overrides: tuple[str, ...] = ()  # keys of studies.<name> replacing the model's

    def folder(self, name: str) -> str:
        """The study's folder under results/studies/<dataset>: its model's, or for an
        ensemble (which trains models of its own) its name."""
        return name if self.ensemble else self.model


#: Every model study by name (for an ensemble: its config section ``studies.<name>``).
MODEL_STUDIES: dict[str, ModelStudy] = {
    "shap": ModelStudy(
        "bdt", "BDT: SHAP values", "details", "shap.json", "shap.png", switch="shap"
    ),
    "importance": ModelStudy(
        "ann",
        "ANN: permutation importance",
        "details",
        "importance.json",
        "importance.png",
        switch="permutation_importance",
    ),
    "tree": ModelStudy(
        "decision_tree",
        "A single decision tree, for comparison",
        "details",
        result="tree.png",
        figure="tree.png",
    ),
    "ensemble": ModelStudy(
        "ann",
        "ANN deep ensemble",
        "calibration",
        "ensemble.json",
        "spread.png",
        switch="ensemble",
        ensemble=True,
        members="networks",
        seed_offset=1000,
        overrides=("epochs",),
    ),
    "bdt_bootstrap": ModelStudy(
        "bdt",
        "BDT bootstrap ensemble",
        "calibration",
        "ensemble.json",
        "spread.png",
        switch="bdt_bootstrap",
        ensemble=True,
        members="BDTs on bootstrap resamples",
        seed_offset=2000,
        bootstrap=True,
    ),
}
#: The ensemble studies (one rule trains them all).
ENSEMBLE_STUDIES = [name for name, study in MODEL_STUDIES.items() if study.ensemble]


def study_file(dataset: str, name: str, features: str, file: str) -> str:
    """A file of one model study on one feature set."""
    folder = MODEL_STUDIES[name].folder(name)
    return paths.fill(
        paths.STUDY_FILE, dataset=dataset, folder=folder, features=features, file=file
    )


class ModelStudiesStage(Stage):
    """The switched-on model studies of each classification dataset."""

    name = "model_studies"
    sections = ("calibration", "details")

    def errors(self) -> list[str]:
        """An ensemble's feature set must exist in some active classification dataset."""
        a, messages = self.analysis, []
        datasets = a.classification_datasets
        for name in ENSEMBLE_STUDIES:
            section = self.config["studies"][name]
            model = MODEL_STUDIES[name].model
            if not (section["activate"] and datasets and a.model_on(model)):
                continue
            if not any(section["feature_set"] in a.feature_sets(d) for d in datasets):
                messages.append(
                    f"config key 'studies.{name}.feature_set': no active dataset has the "
                    f"feature set {section['feature_set']!r}"
                )
        return messages

    def switched_on(self, name: str) -> bool:
        """Whether a study's switch is on (a study without one is on with its model)."""
        switch = MODEL_STUDIES[name].switch
        return switch is None or bool(self.config["studies"][switch]["activate"])

    def feature_sets(self, dataset: str, name: str) -> list[str]:
        """The feature sets a study runs on in a dataset (empty: it does not run there)."""
        a, study = self.analysis, MODEL_STUDIES[name]
        if not self.switched_on(name):
            return []
        if not study.ensemble:
            return a.feature_sets_of(dataset, study.model)
        features = self.config["studies"][name]["feature_set"]
        on = a.model_on(study.model) and features in a.feature_sets(dataset)
        return [features] if on else []

    def ensemble_results(self) -> dict[str, dict[str, str]]:
        """Every ensemble's result file -> what its members are trained as (dataset, model,
        feature set, study): the summary shows their AUC spread beside the single model's.
        Sorted by file, so that the order of the datasets in the config (a params value of
        the summary) re-runs nothing."""
        out = {}
        for dataset in self.analysis.classification_datasets:
            for name in ENSEMBLE_STUDIES:
                for features in self.feature_sets(dataset, name):
                    path = study_file(dataset, name, features, MODEL_STUDIES[name].result)
                    model = MODEL_STUDIES[name].model
                    out[path] = {
                        "dataset": dataset,
                        "model": model,
                        "features": features,
                        "study": name,
                    }
        return dict(sorted(out.items()))

    def files(self, dataset: str) -> dict[str, dict[str, dict[str, str]]]:
        """study -> feature set -> its result and figure, for the studies that run."""
        out = {}
        for name, study in MODEL_STUDIES.items():
            sets = self.feature_sets(dataset, name)
            if sets:
                out[name] = {
                    f: {
                        "result": study_file(dataset, name, f, study.result),
                        "figure": study_file(dataset, name, f, study.figure),
                    }
                    for f in sets
                }
        return out

    def status(self) -> dict[str, str | None]:
        """Ensembles fill section 5, the other studies section 6."""
        datasets = self.analysis.classification_datasets
        running = {name for d in datasets for name in self.files(d)}
        reasons = {}
        for section in self.sections:
            studies = [n for n, s in MODEL_STUDIES.items() if s.section == section]
            switches = [MODEL_STUDIES[n].switch for n in studies]
            keys = [f"`studies.{switch}.activate`" for switch in switches if switch]
            what = "no ensemble" if section == "calibration" else "no model study"
            reasons[section] = (
                None
                if running & set(studies)
                else f"{what} is switched on or its model trained ({', '.join(keys)})"
            )
        return reasons

    def manifest(self) -> dict[str, Any]:
        """Each dataset's study files, and how the report presents every study."""
        return {
            "datasets": {
                d: {"studies": self.files(d)} for d in self.analysis.classification_datasets
            },
            "model_studies": {
                name: {
                    "title": s.title,
                    "section": s.section,
                    "members": s.members,
                    "switch": f"studies.{s.switch}.activate" if s.switch else None,
                }
                for name, s in MODEL_STUDIES.items()
            },
        }

    # --- params of the rules ----------------------------------------------------------------
    @staticmethod
    def ensemble_spec(name: str) -> dict[str, Any]:
        """What an ensemble's job needs of its registry entry
        (:class:`mlhep.studies.ensembles.EnsembleStudy`)."""
        study = MODEL_STUDIES[name]
        return {
            "model": study.model,
            "title": study.title,
            "seed_offset": study.seed_offset,
            "bootstrap": study.bootstrap,
            "overrides": list(study.overrides),
        }

    def settings(self, name: str) -> dict[str, Any]:
        """A study's config section (``studies.<switch>``) less its ``threads``, which do not
        change its results (so a new thread count re-runs nothing)."""
        switch = MODEL_STUDIES[name].switch
        if not switch:
            return {}
        section = {k: v for k, v in self.config["studies"][switch].items() if k != "threads"}
        return canonical(section)


STAGE = ModelStudiesStage
