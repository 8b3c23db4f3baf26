"""Bring your own ntuples: the ``root`` dataset kind reads signal and background from ROOT
files (:mod:`.reader`) with expressions (:mod:`.expressions`), jagged collections made flat
(:mod:`.flatten`) and every input checked first (:mod:`.files`); :mod:`.export` writes the
toy's events as user-style ntuples."""

from __future__ import annotations

from mlhep.data.ntuple.files import NtupleError

__all__ = ["KIND", "NtupleError"]


def __getattr__(name: str) -> object:
    """The dataset plug-in ``KIND``, built on first use."""
    if name == "KIND":
        from mlhep.data.ntuple.reader import KIND

        return KIND
    raise AttributeError(name)
