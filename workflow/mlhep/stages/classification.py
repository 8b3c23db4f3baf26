"""The classifiers' stage: the exact limit of each feature set, every trained classifier
evaluated against it (rules ``bayes_optimal``, ``evaluate``, ``roc_comparison``,
``calibration``, ``training_curves``, ``summary``), the report's sections 4 to 6."""

from __future__ import annotations

from typing import Any

from mlhep import paths
from mlhep.core import canonical
from mlhep.stages import Stage


class ClassificationStage(Stage):
    """Every classifier of every classification dataset against its exact limit."""

    name = "classification"
    sections = ("classifiers", "calibration", "details")

    def status(self) -> dict[str, str | None]:
        """Classifiers trained; feature sets with a limit to calibrate against; curves."""
        a = self.analysis
        datasets = a.classification_datasets
        return {
            "classifiers": None
            if any(a.trained(d) for d in datasets)
            else "no classifier is switched on (`models.<name>.activate`, "
            "`datasets.<name>.models`)",
            "calibration": None
            if any(a.calibration_sets(d) for d in datasets)
            else "no trained feature set has an exact limit (`datasets.<name>.limit`)",
            "details": None
            if any(a.curve_models(d) for d in datasets)
            else "switched off in the config (no model with training curves is trained)",
        }

    def has_summary(self) -> bool:
        """Whether there is anything to summarise (a trained model or a limit)."""
        a = self.analysis
        return any(a.trained(d) or a.limit_sets(d) for d in a.classification_datasets)

    @staticmethod
    def evaluation_files(dataset: str, model: str, features: str) -> dict[str, str]:
        """What the evaluation of one classifier writes."""
        values = {"dataset": dataset, "model": model, "features": features}
        return paths.fill_all(paths.EVALUATION_FILES, **values)

    def dataset_entry(self, dataset: str) -> dict[str, Any]:
        """The report's entry of one classification dataset."""
        a, d = self.analysis, dataset
        return {
            **a.description(d),
            "distributions": paths.fill(paths.DISTRIBUTIONS, dataset=d),
            "feature_sets": a.feature_sets(d),
            "trained_sets": a.trained_sets(d),
            "limit": a.limit_file(d),
            "trained": [
                {
                    "model": m,
                    "features": f,
                    "record": a.model_files(d, m, f)["record"],
                    **self.evaluation_files(d, m, f),
                }
                for m, f in a.trained(d)
            ],
            "roc": {
                f: paths.fill(paths.ROC_COMPARISON, dataset=d, features=f)
                for f in a.trained_sets(d)
            },
            "calibration": {
                f: {
                    "plot": paths.fill(paths.CALIBRATION_PLOT, dataset=d, features=f),
                    "table": paths.fill(paths.CALIBRATION_TABLE, dataset=d, features=f),
                }
                for f in a.calibration_sets(d)
            },
            "training": {
                m: paths.fill(paths.TRAINING_CURVES, dataset=d, model=m) for m in a.curve_models(d)
            },
        }

    def manifest(self) -> dict[str, Any]:
        """Every classification dataset's entry and the summary table."""
        return {
            "datasets": {d: self.dataset_entry(d) for d in self.analysis.classification_datasets},
            "summary": paths.SUMMARY_CSV if self.has_summary() else None,
        }

    def targets(self) -> list[str]:
        """The summary's Markdown table."""
        return [paths.SUMMARY_MD] if self.has_summary() else []

    # --- params of the rules ----------------------------------------------------------------
    def evaluation_settings(self) -> dict[str, Any]:
        """The evaluation settings of a classifier (not the regressors' part)."""
        return canonical({k: v for k, v in self.config["evaluation"].items() if k != "regression"})

    def limit_settings(self) -> dict[str, Any]:
        """What the limit's evaluation uses (not the recalibrations: p* needs none)."""
        evaluation = self.config["evaluation"]
        return canonical(
            {k: v for k, v in evaluation.items() if k not in ("calibration", "regression")}
        )

    def limit_feature_sets(self, dataset: str) -> dict[str, list[str]]:
        """Feature sets (name -> columns) whose exact limit rule bayes_optimal computes."""
        sets = self.analysis.feature_sets(dataset)
        return canonical({f: sets[f] for f in self.analysis.limit_sets(dataset)})

    def predictions(self, dataset: str, features: str) -> list[str]:
        """Prediction files of every model trained on one feature set."""
        a = self.analysis
        return [
            a.model_files(dataset, m, features)["predictions"]
            for m in a.models_on(dataset, features)
        ]

    def records(self, dataset: str, features: str) -> list[str]:
        """Training records of every model trained on one feature set."""
        a = self.analysis
        return [
            a.model_files(dataset, m, features)["record"] for m in a.models_on(dataset, features)
        ]

    def curve_records(self, dataset: str, model: str) -> list[str]:
        """Training records of one model on every feature set it trains on."""
        a = self.analysis
        return [
            a.model_files(dataset, model, f)["record"] for f in a.feature_sets_of(dataset, model)
        ]

    def summary_inputs(self) -> dict[str, list[str]]:
        """The metrics of every (dataset, model, feature set) and every limit file."""
        a = self.analysis
        datasets = a.classification_datasets
        return {
            "metrics": [
                self.evaluation_files(d, m, f)["metrics"] for d in datasets for m, f in a.trained(d)
            ],
            "bayes": [a.limit_file(d) for d in datasets if a.limit_file(d)],
        }


STAGE = ClassificationStage
