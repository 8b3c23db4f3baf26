"""The Z-peak fit (``studies.z_peak``): an unbinned maximum-likelihood fit of the dimuon mass
peak of a dataset read from the user's ntuples, against the PDG values; section 9."""

from __future__ import annotations

from typing import Any

from mlhep import paths
from mlhep.stages import Stage

KEY = "studies.z_peak"


class ZPeakStage(Stage):
    """The fit of one dataset's mass peak."""

    name = "z_peak"
    key = KEY
    sections = ("z_peak",)

    def has_column(self, dataset: str) -> bool:
        """Whether a dataset has the configured mass column."""
        return self.section["column"] in self.analysis.all_columns(dataset)

    def dataset(self) -> str | None:
        """The dataset whose peak is fitted (``None``: the fit is off): the configured one, or
        the first active dataset read from the user's ntuples with the mass column."""
        if not self.section["activate"]:
            return None
        a, name = self.analysis, self.section["dataset"]
        if name is not None:
            return name if name in a.classification_datasets else None
        return next(
            (
                d
                for d in a.classification_datasets
                if a.kind(d).reads_user_ntuples and self.has_column(d)
            ),
            None,
        )

    def errors(self) -> list[str]:
        """The fit's dataset, column and window."""
        section, key = self.section, f"config key '{KEY}"
        if not section["activate"]:
            return []
        messages = []
        lo, hi = section["window"]
        if not hi > lo:
            messages.append(f"{key}.window': needs low < high, got {[lo, hi]}")
        name = section["dataset"]
        if name is not None:
            datasets = self.config["datasets"]
            if name not in datasets:
                messages.append(
                    f"{key}.dataset': no dataset {name!r} (datasets: {sorted(datasets)})"
                )
            elif not self.has_column(name):
                messages.append(
                    f"{key}.column': dataset {name!r} has no column {section['column']!r}"
                )
        return messages

    def status(self) -> dict[str, str | None]:
        """On while a dataset is fitted."""
        if self.dataset():
            return {"z_peak": None}
        return {
            "z_peak": f"switched off in the config (`{KEY}.activate`), or no active dataset "
            f"of kind root with the mass column (`{KEY}.dataset`, `.column`)"
        }

    def manifest(self) -> dict[str, Any]:
        """The fit record, its two figures and the dataset's generation record."""
        dataset = self.dataset()
        if dataset is None:
            return {"z_peak": None}
        return {
            "z_peak": {
                "dataset": dataset,
                **paths.fill_all(paths.Z_PEAK_FILES, dataset=dataset),
                "generation": paths.fill(paths.GENERATION, dataset=dataset),
            }
        }

    def params(self) -> dict[str, Any]:
        """The fit's settings (``studies.z_peak`` less its dataset and switch)."""
        return {k: self.section[k] for k in ("label", "column", "window", "bins", "toys")}


STAGE = ZPeakStage
