"""The reversible, physics-aware representation of dimuon events the generators of
:mod:`mlhep.generative` work in, and the columns their fidelity is measured on.

An event's low-level features (the two muons' pT, eta, phi, n_jets, met, met_phi) map to
ten network coordinates that build the physics in:

- the acceptance edges: log(pT - 20 GeV) and atanh(eta / 2.4), so that every generated
  muon passes pT > 20 GeV and |eta| < 2.4;
- the symmetry about the beam: azimuths relative to the mu-'s, the global azimuth drawn
  uniformly when events are made (the physics is invariant under a rotation about z);
- angles as points on the unit circle (cos, sin): no seam at +-pi;
- the discrete n_jets dequantised by uniform noise (n + u, u in [0, 1)) and floored back;
- log(met).

The continuous coordinates are standardised with training statistics; the circle
coordinates are left as they are. Events outside the toy's mass range are rejected when
sampling (:func:`in_mass_range`), as the toy's own generator never makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from mlhep.data.dimuon.physics import (
    LOW_LEVEL_FEATURES,
    M_HIGH,
    M_LOW,
    MUON_ABS_ETA_MAX,
    MUON_PT_MIN,
)

Array = NDArray[np.float64]

#: The resonance's mass: the signal's peak whose width and position fidelity checks.
MASS_COLUMN = "m_mumu"
#: The columns compared one by one: the low-level features every generator writes and the
#: pair observables none outputs (a blind one never sees them).
FIDELITY_COLUMNS = (*LOW_LEVEL_FEATURES, MASS_COLUMN, "pt_mumu", "cos_theta_star")
#: The absolute azimuths: exactly uniform in every sample (each generator draws the global
#: azimuth uniformly), so they only dilute a multivariate distance.
GLOBAL_AZIMUTHS = ("mu_minus_phi", "mu_plus_phi", "met_phi")
#: The columns FPD and KPD compare: the fidelity columns less the absolute azimuths, plus
#: the azimuths relative to the mu-'s (which carry what the absolute ones do not).
DISTANCE_COLUMNS = (
    *(c for c in FIDELITY_COLUMNS if c not in GLOBAL_AZIMUTHS),
    "dphi_plus",
    "dphi_met",
)
#: The KS statistics the fidelity table shows (all are in each generator's record).
KS_TABLE_COLUMNS = ("mu_minus_pt", "mu_plus_eta", "n_jets", "met", MASS_COLUMN)

#: The network coordinates, in order.
COORDINATES = (
    "log_pt_minus",
    "atanh_eta_minus",
    "log_pt_plus",
    "atanh_eta_plus",
    "cos_dphi_plus",
    "sin_dphi_plus",
    "n_jets_dequantised",
    "log_met",
    "cos_dphi_met",
    "sin_dphi_met",
)
#: Indices of the (cos, sin) pairs: kept on the unit circle.
CIRCLES = ((4, 5), (8, 9))
#: Indices of the standardised coordinates.
STANDARDISED = (0, 1, 2, 3, 6, 7)
_ETA_EDGE = 1.0 - 1e-9  # atanh's argument stays finite for |eta| -> 2.4
_LOG_MAX = 12.0  # exp of a generated log-coordinate stays finite


def _wrap(phi: Array) -> Array:
    """Angles in (-pi, pi]."""
    return np.pi - np.mod(np.pi - phi, 2.0 * np.pi)


def distance_matrix(frame: pd.DataFrame) -> Array:
    """The :data:`DISTANCE_COLUMNS` of events with the engineered columns, one row each."""
    ref = frame["mu_minus_phi"].to_numpy(float)
    relative = {
        "dphi_plus": _wrap(frame["mu_plus_phi"].to_numpy(float) - ref),
        "dphi_met": _wrap(frame["met_phi"].to_numpy(float) - ref),
    }
    return np.column_stack(
        [relative[c] if c in relative else frame[c].to_numpy(float) for c in DISTANCE_COLUMNS]
    )


def encode(frame: Mapping[str, Array] | pd.DataFrame, rng: np.random.Generator) -> Array:
    """Raw network coordinates (before standardisation) of events' low-level features;
    ``rng`` draws the dequantisation noise of n_jets."""
    col = {c: np.asarray(frame[c], dtype=np.float64) for c in LOW_LEVEL_FEATURES}
    ref = col["mu_minus_phi"]
    d_plus = col["mu_plus_phi"] - ref
    d_met = col["met_phi"] - ref
    eta_m = np.clip(col["mu_minus_eta"] / MUON_ABS_ETA_MAX, -_ETA_EDGE, _ETA_EDGE)
    eta_p = np.clip(col["mu_plus_eta"] / MUON_ABS_ETA_MAX, -_ETA_EDGE, _ETA_EDGE)
    return np.column_stack(
        [
            np.log(np.maximum(col["mu_minus_pt"] - MUON_PT_MIN, 1e-12)),
            np.arctanh(eta_m),
            np.log(np.maximum(col["mu_plus_pt"] - MUON_PT_MIN, 1e-12)),
            np.arctanh(eta_p),
            np.cos(d_plus),
            np.sin(d_plus),
            col["n_jets"] + rng.uniform(0.0, 1.0, len(ref)),
            np.log(np.maximum(col["met"], 1e-12)),
            np.cos(d_met),
            np.sin(d_met),
        ]
    )


def decode(raw: Array, rng: np.random.Generator) -> dict[str, Array]:
    """Low-level features from raw network coordinates; the mu- azimuth is drawn uniformly
    by ``rng`` and the other azimuths follow it."""
    raw = np.asarray(raw, dtype=np.float64)
    phi_ref = rng.uniform(-np.pi, np.pi, len(raw))
    log_max = np.minimum(raw[:, [0, 2, 7]], _LOG_MAX)
    return {
        "mu_minus_pt": MUON_PT_MIN + np.exp(log_max[:, 0]),
        "mu_minus_eta": MUON_ABS_ETA_MAX * np.tanh(raw[:, 1]),
        "mu_minus_phi": _wrap(phi_ref),
        "mu_plus_pt": MUON_PT_MIN + np.exp(log_max[:, 1]),
        "mu_plus_eta": MUON_ABS_ETA_MAX * np.tanh(raw[:, 3]),
        "mu_plus_phi": _wrap(phi_ref + np.arctan2(raw[:, 5], raw[:, 4])),
        "n_jets": np.floor(np.maximum(raw[:, 6], 0.0)),
        "met": np.exp(log_max[:, 2]),
        "met_phi": _wrap(phi_ref + np.arctan2(raw[:, 9], raw[:, 8])),
    }


def pair_mass(raw: Array) -> Array:
    """The dimuon mass [GeV] of raw network coordinates (massless muons)."""
    pt_m = MUON_PT_MIN + np.exp(np.minimum(raw[:, 0], _LOG_MAX))
    pt_p = MUON_PT_MIN + np.exp(np.minimum(raw[:, 2], _LOG_MAX))
    d_eta = MUON_ABS_ETA_MAX * (np.tanh(raw[:, 1]) - np.tanh(raw[:, 3]))
    sin2_half = (1.0 - raw[:, 4] / np.maximum(np.hypot(raw[:, 4], raw[:, 5]), 1e-12)) / 2.0
    return 2.0 * np.sqrt(pt_m * pt_p * (np.sinh(d_eta / 2.0) ** 2 + sin2_half))


def in_mass_range(mass: Array) -> NDArray[np.bool_]:
    """Events inside the toy's pair-mass range (the generator rejects the others)."""
    return (mass >= M_LOW) & (mass <= M_HIGH)


@dataclass(frozen=True)
class Standardiser:
    """Training means and scales of the continuous coordinates (the circle coordinates
    keep mean 0 and scale 1), applied in NumPy and in torch."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, raw: Array) -> Standardiser:
        """Statistics of raw training coordinates."""
        mean, scale = np.zeros(raw.shape[1]), np.ones(raw.shape[1])
        idx = list(STANDARDISED)
        mean[idx] = raw[:, idx].mean(axis=0)
        scale[idx] = raw[:, idx].std(axis=0)
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in np.maximum(scale, 1e-12)))

    def forward(self, raw: Array) -> Array:
        """Standardised coordinates."""
        return (raw - np.asarray(self.mean)) / np.asarray(self.scale)

    def inverse(self, x: Array) -> Array:
        """Raw coordinates."""
        return x * np.asarray(self.scale) + np.asarray(self.mean)

    def inverse_torch(self, x: torch.Tensor) -> torch.Tensor:
        """Raw coordinates of a tensor (differentiable)."""
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        scale = torch.as_tensor(self.scale, dtype=x.dtype, device=x.device)
        return x * scale + mean


def pair_mass_torch(raw: torch.Tensor) -> torch.Tensor:
    """:func:`pair_mass` in torch, differentiable: what the physics-informed critic sees of
    the generated muons (m^2 = 4 pT1 pT2 (sinh^2(d eta / 2) + sin^2(d phi / 2)), free of
    cancellation; the circle coordinates are normalised first)."""
    pt_m = MUON_PT_MIN + torch.exp(torch.clamp(raw[:, 0], max=_LOG_MAX))
    pt_p = MUON_PT_MIN + torch.exp(torch.clamp(raw[:, 2], max=_LOG_MAX))
    d_eta = MUON_ABS_ETA_MAX * (torch.tanh(raw[:, 1]) - torch.tanh(raw[:, 3]))
    norm = torch.sqrt(raw[:, 4] ** 2 + raw[:, 5] ** 2).clamp_min(1e-12)
    sin2_half = (1.0 - raw[:, 4] / norm) / 2.0  # sin^2(d phi / 2)
    m2 = 4.0 * pt_m * pt_p * (torch.sinh(d_eta / 2.0) ** 2 + sin2_half)
    return torch.sqrt(m2.clamp_min(1e-6))
