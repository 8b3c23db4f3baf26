"""Readout pulses: the CR-RC^n shape (:mod:`.shape`), the ``pulse`` dataset of pulses
sampled at the 40 MHz bunch-crossing clock with noise and pile-up (:mod:`.readout`), and
the Cramer-Rao bound on amplitude and arrival time (:mod:`.bound`).

The dataset's task is regression: its feature table carries the samples ``s0, s1, ...``
as features, the true ``amplitude`` and ``t0`` as targets and the ``pileup`` flag.
"""

from __future__ import annotations

from mlhep.data.pulse.shape import PulseSamples, crrc_derivative, crrc_pulse, noisy_pulse

__all__ = ["KIND", "PulseSamples", "crrc_derivative", "crrc_pulse", "noisy_pulse"]


def __getattr__(name: str) -> object:
    """The dataset plug-in ``KIND``, built on first use (the generalization studies import
    only the shape and need not load the model registry)."""
    if name == "KIND":
        from mlhep.data.pulse.readout import KIND

        return KIND
    raise AttributeError(name)
