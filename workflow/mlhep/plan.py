"""The configured analysis assembled: the core (:class:`~mlhep.core.Analysis`) and every
stage of :data:`mlhep.stages.STAGES` over it, giving the report's manifest, each report
section's status, and the final outputs (rule ``all``). What a stage means lives in its own
module; this one only puts the stages together.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from mlhep import paths
from mlhep.core import Analysis
from mlhep.stages import SECTIONS, STAGES, Stage, merge, off_reason, stage_class


class Plan(Analysis):
    """The analysis a validated config describes, with its stages."""

    @cached_property
    def stages(self) -> dict[str, Stage]:
        """Every stage over this analysis, in registry order."""
        return {name: stage_class(name)(self) for name in STAGES}

    def stage(self, name: str) -> Stage:
        """One stage (``KeyError`` naming the known stages)."""
        if name not in STAGES:
            raise KeyError(f"unknown stage {name!r}; known: {list(STAGES)}")
        return self.stages[name]

    def manifest(self) -> dict[str, Any]:
        """Every result the report shows, by stage, with each section's status (the
        report's only source: nothing parses paths back)."""
        manifest: dict[str, Any] = {}
        for stage in self.stages.values():
            merge(manifest, stage.manifest())
        manifest["stages"] = self.status()
        return manifest

    def status(self) -> dict[str, str | None]:
        """For each report section, in order: ``None`` when it has something to show, else
        why it is empty (naming the config key that switches it on)."""
        reasons: dict[str, list[str | None]] = {section: [] for section in SECTIONS}
        for stage in self.stages.values():
            for section, reason in stage.status().items():
                reasons[section].append(reason)
        return {section: off_reason(found) for section, found in reasons.items()}

    def outputs(self) -> list[str]:
        """Every final output of the configured analysis (the inputs of rule all)."""
        out = [paths.MLFLOW_READY, *manifest_files(self.manifest())]
        for stage in self.stages.values():
            out += stage.targets()
        return list(dict.fromkeys(out))


def manifest_files(manifest: Any) -> list[str]:
    """Every result path in a manifest (the report's inputs), once each, in a stable order."""
    return list(dict.fromkeys(_paths(manifest)))


def _paths(node: Any) -> list[str]:
    """The result paths anywhere in a manifest node (not in its names and columns)."""
    if isinstance(node, str):
        return [node] if node.startswith(f"{paths.RESULTS}/") else []
    if isinstance(node, Mapping):
        keys = [k for k in node if k not in ("stages", "feature_sets", "trained_sets")]
        return [p for k in keys for p in _paths(node[k])]
    if isinstance(node, list):
        return [p for item in node for p in _paths(item)]
    return []
