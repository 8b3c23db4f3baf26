"""The analysis's stages as units: each stage is one module here holding everything the
workflow must know of it besides its rules and scripts: its config checks, whether it is on
and, if not, why (naming the config key), the params of its jobs, and its outputs (the
report's manifest entries and any other final target).

The registry maps each stage to its module, imported only when asked for (as the dataset
kinds' :data:`mlhep.data.KINDS`). Adding a stage is its module, one line in :data:`STAGES`,
its rules, and its config keys in the schema and the docs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar

from mlhep.core import Analysis

#: The report's sections in order: key -> heading (the notebook's markdown headings).
SECTIONS = {
    "data": "1. The data",
    "perceptron": "2. The perceptron on Iris",
    "linear": "3. Linear regression and loss functions",
    "classifiers": "4. Classifiers against the Bayes limit",
    "calibration": "5. Calibration and uncertainty against the truth",
    "details": "6. Training curves and studies in detail",
    "generalization": "7. Generalization: under- and over-fitting, capacity, data size",
    "regression": "8. Readout pulses: amplitude and time against the Cramer-Rao bound",
    "z_peak": "9. Your own ntuples: the Z peak in CMS open data",
    "generative": "10. Generative models: a flow, GANs and a WGAN-GP as fast simulation, and "
    "the exact physics",
    "tuning": "11. Hyper-parameter searches with Optuna",
    "reproducibility": "12. Reproducibility",
}


class Stage:
    """One stage of the analysis over the core :class:`~mlhep.core.Analysis`.

    A subclass names the report sections it fills (``sections``) and overrides what it
    has: :meth:`errors` (config checks beyond the schema, each naming its key),
    :meth:`status` (per section: ``None`` when it has something to show, else why not),
    :meth:`manifest` (its entries of the report's manifest) and :meth:`targets` (final
    outputs that are not in the manifest).
    """

    name: ClassVar[str]
    sections: ClassVar[tuple[str, ...]] = ()
    key: ClassVar[str] = ""  # its config section, dotted ("studies.z_peak"), if it has one

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.config = analysis.config

    @property
    def section(self) -> Mapping[str, Any]:
        """The stage's config section (``key``)."""
        node: Any = self.config
        for part in self.key.split("."):
            node = node[part]
        return node

    def errors(self) -> list[str]:
        """Problems with the stage's config keys, each starting ``config key '...'``."""
        return []

    def status(self) -> dict[str, str | None]:
        """For each of its sections: ``None`` when it has something to show, else why not."""
        return dict.fromkeys(self.sections)

    def manifest(self) -> dict[str, Any]:
        """Its entries of the report's manifest (merged with the other stages' entries)."""
        return {}

    def targets(self) -> list[str]:
        """Final outputs of the stage besides the files its manifest names."""
        return []


#: Every stage by name and the module defining it (its attribute ``STAGE``), in the order
#: the report shows them.
STAGES: dict[str, str] = {
    "data": "mlhep.stages.data",
    "lecture": "mlhep.stages.lecture",
    "classification": "mlhep.stages.classification",
    "model_studies": "mlhep.stages.model_studies",
    "generalization": "mlhep.stages.generalization",
    "regression": "mlhep.stages.regression",
    "z_peak": "mlhep.stages.z_peak",
    "generative": "mlhep.stages.generative",
    "tuning": "mlhep.stages.tuning",
    "report": "mlhep.stages.report",
}


@cache
def stage_class(name: str) -> type[Stage]:
    """The class of stage ``name``; ``KeyError`` naming the known stages."""
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; known: {list(STAGES)}")
    cls = importlib.import_module(STAGES[name]).STAGE
    if not (isinstance(cls, type) and issubclass(cls, Stage)) or cls.name != name:
        raise TypeError(f"{STAGES[name]}.STAGE is not the Stage {name!r}")
    unknown = set(cls.sections) - set(SECTIONS)
    if unknown:
        raise TypeError(f"stage {name!r} names unknown report sections {sorted(unknown)}")
    return cls


def merge(into: dict[str, Any], entries: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a stage's manifest ``entries`` into ``into``, recursively into mappings both
    have (the classifier stage's dataset entry and the model studies' ``studies`` in it);
    a key two stages set to different leaves is an error in the stages."""
    for key, value in entries.items():
        if isinstance(into.get(key), dict) and isinstance(value, Mapping):
            merge(into[key], value)
        elif key in into and into[key] != value:
            raise ValueError(f"two stages set the manifest key {key!r}")
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value
    return into


def off_reason(reasons: list[str | None]) -> str | None:
    """A section's status from its stages' statuses: on where any stage has something to
    show, else every stage's reason."""
    if not reasons or any(r is None for r in reasons):
        return None
    return " and ".join(dict.fromkeys(r for r in reasons if r))
