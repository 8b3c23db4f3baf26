"""The pulse regressors against the Cramer-Rao bound (rule ``evaluate_regression``): every
regressor of a regression dataset, its bias, resolution and pulls, the report's section 8."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from mlhep import paths
from mlhep.core import canonical
from mlhep.stages import Stage


class RegressionStage(Stage):
    """Every regressor of every regression dataset against the bound."""

    name = "regression"
    sections = ("regression",)

    def errors(self) -> list[str]:
        """The amplitude bins must increase."""
        bins = self.config["evaluation"]["regression"]["amplitude_bins"]
        if any(hi <= lo for lo, hi in pairwise(bins)):
            return [
                "config key 'evaluation.regression.amplitude_bins': the edges must increase, "
                f"got {bins}"
            ]
        return []

    def datasets(self) -> list[str]:
        """The regression datasets with a regressor trained."""
        a = self.analysis
        return [d for d in a.regression_datasets if a.trained(d)]

    def status(self) -> dict[str, str | None]:
        """On while a regressor is trained."""
        if self.datasets():
            return {"regression": None}
        return {
            "regression": "no pulse dataset with a regressor is switched on (`datasets.<name>."
            "kind: pulse`, `models.<name>.activate`)"
        }

    def files(self, dataset: str) -> dict[str, str]:
        """What the evaluation of a regression dataset writes."""
        return paths.fill_all(paths.REGRESSION_FILES, dataset=dataset)

    def entry(self, dataset: str) -> dict[str, Any]:
        """The report's entry of one regression dataset."""
        a = self.analysis
        return {
            **a.description(dataset),
            "trained": [
                {"model": m, "features": f, "record": a.model_files(dataset, m, f)["record"]}
                for m, f in a.trained(dataset)
            ],
            **self.files(dataset),
        }

    def manifest(self) -> dict[str, Any]:
        """Every regression dataset's entry (``None`` when there is none)."""
        return {"regression": {d: self.entry(d) for d in self.datasets()} or None}

    # --- params of the rule -----------------------------------------------------------------
    def methods(self, dataset: str) -> dict[str, tuple[str, str]]:
        """Label -> (model, feature set) of the regressors of a dataset: the model's name,
        with the feature set where a model trains on several."""
        trained = self.analysis.trained(dataset)
        sets = {m: [f for n, f in trained if n == m] for m, _ in trained}
        return {(m if len(sets[m]) == 1 else f"{m} ({f})"): (m, f) for m, f in trained}

    def predictions(self, dataset: str) -> dict[str, str]:
        """Predictions of every regressor, by method label."""
        a = self.analysis
        return {
            label: a.model_files(dataset, m, f)["predictions"]
            for label, (m, f) in self.methods(dataset).items()
        }

    def records(self, dataset: str) -> list[str]:
        """Training records of every regressor of a dataset."""
        a = self.analysis
        return [a.model_files(dataset, m, f)["record"] for m, f in a.trained(dataset)]

    def settings(self) -> dict[str, Any]:
        """The regression evaluation's settings (``evaluation.regression``)."""
        return canonical(self.config["evaluation"]["regression"])


STAGE = RegressionStage
