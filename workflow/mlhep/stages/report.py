"""The rendered report (``report.activate``): the notebook over the manifest of every other
stage, and its reproducibility section."""

from __future__ import annotations

from mlhep import paths
from mlhep.stages import Stage


class ReportStage(Stage):
    """The HTML report."""

    name = "report"
    sections = ("reproducibility",)

    def targets(self) -> list[str]:
        """The report page, when switched on."""
        return [paths.REPORT_HTML] if self.config["report"]["activate"] else []


STAGE = ReportStage
