"""The lecture's demonstrations: the perceptron on Iris, the loss functions against the
margin, and gradient descent on the squared error against the cross-entropy."""

from __future__ import annotations

from typing import Any

from mlhep import paths
from mlhep.stages import Stage

#: The gradient-descent models whose training the MSE-against-BCE figure compares.
GD_MODELS = ("linear_mse", "linear_bce")


class LectureStage(Stage):
    """Sections 2 and 3 of the report."""

    name = "lecture"
    sections = ("perceptron", "linear")

    @property
    def iris(self) -> bool:
        """Whether the perceptron on Iris runs (``lecture.perceptron_iris.activate``)."""
        return bool(self.config["lecture"]["perceptron_iris"]["activate"])

    @property
    def losses(self) -> bool:
        """Whether the loss figures are drawn (``lecture.loss_functions.activate``)."""
        return bool(self.config["lecture"]["loss_functions"]["activate"])

    def status(self) -> dict[str, str | None]:
        """Each demonstration's switch."""
        off = "switched off in the config (`lecture.{}.activate`)"
        return {
            "perceptron": None if self.iris else off.format("perceptron_iris"),
            "linear": None if self.losses else off.format("loss_functions"),
        }

    def gd_records(self, dataset: str) -> list[str]:
        """Training records of the gradient-descent models (MSE and BCE) on a dataset."""
        a = self.analysis
        return [
            a.model_files(dataset, m, f)["record"]
            for m in GD_MODELS
            for f in a.feature_sets_of(dataset, m)
        ]

    def manifest(self) -> dict[str, Any]:
        """The Iris results, the loss figure, and each dataset's gradient-descent figure."""
        gd = {
            d: {
                "gd": paths.fill(paths.GD_COMPARISON, dataset=d)
                if self.losses and self.gd_records(d)
                else None
            }
            for d in self.analysis.classification_datasets
        }
        return {
            "iris": dict(paths.IRIS_FILES) if self.iris else None,
            "loss_functions": paths.LOSS_FUNCTIONS if self.losses else None,
            "datasets": gd,
        }


STAGE = LectureStage
