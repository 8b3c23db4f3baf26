"""The reversible, physics-aware representations of dimuon events the generators of
:mod:`mlhep.generative` work in (:data:`REPRESENTATIONS`), and the columns their fidelity
is measured on.

``muons``: an event's low-level features (the two muons' pT, eta, phi, n_jets, met,
met_phi) map to ten network coordinates that build the physics in:

- the acceptance edges: log(pT - 20 GeV) and atanh(eta / 2.4), so that every generated
  muon passes pT > 20 GeV and |eta| < 2.4;
- the symmetry about the beam: azimuths relative to the mu-'s, the global azimuth drawn
  uniformly when events are made (the physics is invariant under a rotation about z);
- angles as points on the unit circle (cos, sin): no seam at +-pi;
- the discrete n_jets dequantised by uniform noise (n + u, u in [0, 1)) and floored back;
- log(met).

``pair``: the latents the toy draws (the pair's mass, log pT, rapidity, atanh cos theta*,
the decay and met azimuths relative to the pair's, n_jets, log met), the muons derived
analytically by :func:`mlhep.data.dimuon.physics.latent_to_muons`: the peak is a
coordinate, the acceptance is checked when sampling.

The continuous coordinates are standardised with training statistics; the circle
coordinates are left as they are. Events the toy could not have made (outside the mass
range, or the acceptance) are rejected when sampling, as the toy's own generator never
makes them; ``reflect`` mirrors the relative azimuths at random (phi -> -phi).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
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
    Latent,
    latent_to_muons,
    observed_to_latent,
    passes_acceptance,
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


def _reflection(rng: np.random.Generator, n: int, reflect: bool) -> Array:
    """Signs of the relative azimuths: +1, or with ``reflect`` a random +-1 per event (the
    toy is symmetric under phi -> -phi, which a generator need not learn)."""
    return rng.choice([-1.0, 1.0], n) if reflect else np.ones(n)


def decode(raw: Array, rng: np.random.Generator, reflect: bool = False) -> dict[str, Array]:
    """Low-level features from raw network coordinates; the mu- azimuth is drawn uniformly
    by ``rng`` and the other azimuths follow it (mirrored at random with ``reflect``)."""
    raw = np.asarray(raw, dtype=np.float64)
    phi_ref = rng.uniform(-np.pi, np.pi, len(raw))
    sign = _reflection(rng, len(raw), reflect)
    log_max = np.minimum(raw[:, [0, 2, 7]], _LOG_MAX)
    return {
        "mu_minus_pt": MUON_PT_MIN + np.exp(log_max[:, 0]),
        "mu_minus_eta": MUON_ABS_ETA_MAX * np.tanh(raw[:, 1]),
        "mu_minus_phi": _wrap(phi_ref),
        "mu_plus_pt": MUON_PT_MIN + np.exp(log_max[:, 1]),
        "mu_plus_eta": MUON_ABS_ETA_MAX * np.tanh(raw[:, 3]),
        "mu_plus_phi": _wrap(phi_ref + sign * np.arctan2(raw[:, 5], raw[:, 4])),
        "n_jets": np.floor(np.maximum(raw[:, 6], 0.0)),
        "met": np.exp(log_max[:, 2]),
        "met_phi": _wrap(phi_ref + sign * np.arctan2(raw[:, 9], raw[:, 8])),
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


def accept(raw: Array) -> NDArray[np.bool_]:
    """Raw muon coordinates the toy could have made: the pair mass in range (the
    acceptance holds by construction)."""
    return in_mass_range(pair_mass(raw))


# --- the pair representation ----------------------------------------------------------------
#: Coordinates of the pair representation: the pair's mass, pT and rapidity and the mu-'s
#: decay angles (the latents the toy draws), so the resonance's peak is a coordinate.
PAIR_COORDINATES = (
    "m_mumu",
    "log_pt_mumu",
    "y_mumu",
    "atanh_cos_theta_star",
    "cos_dphi_star",
    "sin_dphi_star",
    "n_jets_dequantised",
    "log_met",
    "cos_dphi_met_pair",
    "sin_dphi_met_pair",
)


def encode_pair(frame: Mapping[str, Array] | pd.DataFrame, rng: np.random.Generator) -> Array:
    """Raw pair coordinates of events' low-level features: the latents of
    :func:`mlhep.data.dimuon.physics.observed_to_latent`, azimuths relative to the pair's;
    ``rng`` draws the dequantisation noise of n_jets."""
    lat = observed_to_latent(
        {c: np.asarray(frame[c], dtype=np.float64) for c in LOW_LEVEL_FEATURES}
    )
    d_star, d_met = lat.phi_star - lat.phi, lat.met_phi - lat.phi
    cos_theta = np.clip(lat.cos_theta, -_ETA_EDGE, _ETA_EDGE)
    return np.column_stack(
        [
            lat.m,
            np.log(np.maximum(lat.pt, 1e-12)),
            lat.y,
            np.arctanh(cos_theta),
            np.cos(d_star),
            np.sin(d_star),
            lat.n_jets + rng.uniform(0.0, 1.0, len(lat)),
            np.log(np.maximum(lat.met, 1e-12)),
            np.cos(d_met),
            np.sin(d_met),
        ]
    )


def _pair_latent(raw: Array, phi: Array, sign: Array) -> Latent:
    """The latents of raw pair coordinates for a given pair azimuth and reflection."""
    raw = np.asarray(raw, dtype=np.float64)
    return Latent(
        m=np.maximum(raw[:, 0], 1e-6),
        pt=np.exp(np.minimum(raw[:, 1], _LOG_MAX)),
        y=raw[:, 2],
        phi=phi,
        cos_theta=np.tanh(raw[:, 3]),
        phi_star=phi + sign * np.arctan2(raw[:, 5], raw[:, 4]),
        n_jets=np.floor(np.maximum(raw[:, 6], 0.0)).astype(np.int64),
        met=np.exp(np.minimum(raw[:, 7], _LOG_MAX)),
        met_phi=_wrap(phi + sign * np.arctan2(raw[:, 9], raw[:, 8])),
    )


def decode_pair(raw: Array, rng: np.random.Generator, reflect: bool = False) -> dict[str, Array]:
    """Low-level features from raw pair coordinates, the muons derived analytically
    (:func:`mlhep.data.dimuon.physics.latent_to_muons`); the pair azimuth is drawn uniformly
    by ``rng`` (the relative azimuths mirrored at random with ``reflect``)."""
    phi = rng.uniform(-np.pi, np.pi, len(raw))
    lat = _pair_latent(raw, phi, _reflection(rng, len(raw), reflect))
    muons = latent_to_muons(lat)
    other = {"n_jets": lat.n_jets.astype(np.float64), "met": lat.met, "met_phi": lat.met_phi}
    return {c: (muons[c] if c in muons else other[c]) for c in LOW_LEVEL_FEATURES}


def accept_pair(raw: Array) -> NDArray[np.bool_]:
    """Raw pair coordinates the toy could have made: the mass in range and both muons in
    the acceptance (which depends on pT and eta only, not on the azimuths)."""
    raw = np.asarray(raw, dtype=np.float64)
    lat = _pair_latent(raw, np.zeros(len(raw)), np.ones(len(raw)))
    return in_mass_range(raw[:, 0]) & passes_acceptance(latent_to_muons(lat))


@dataclass(frozen=True)
class Representation:
    """How a generator writes events: its raw coordinates, to and from the low-level
    features, the pair mass of raw coordinates (NumPy, and torch for a critic), and which
    raw coordinates the toy could have made."""

    coordinates: tuple[str, ...]
    encode: Callable[[Mapping[str, Array] | pd.DataFrame, np.random.Generator], Array]
    decode: Callable[..., dict[str, Array]]
    mass: Callable[[Array], Array]
    mass_torch: Callable[[torch.Tensor], torch.Tensor]
    accept: Callable[[Array], NDArray[np.bool_]]


#: The representations by name (a GAN's ``representation`` setting). Both keep the circle
#: coordinates at :data:`CIRCLES` and standardise :data:`STANDARDISED`.
REPRESENTATIONS = {
    "muons": Representation(COORDINATES, encode, decode, pair_mass, pair_mass_torch, accept),
    "pair": Representation(
        PAIR_COORDINATES,
        encode_pair,
        decode_pair,
        lambda raw: np.asarray(raw)[:, 0],
        lambda raw: raw[:, 0],
        accept_pair,
    ),
}


# --- the flow's coordinates ----------------------------------------------------------------
#: The flow's coordinates (:mod:`mlhep.generative.flow`), in order: no circles, every
#: coordinate a function of one feature, so the Jacobian is a product.
FLOW_COORDINATES = (
    "log_pt_minus",
    "atanh_eta_minus",
    "log_pt_plus",
    "atanh_eta_plus",
    "atanh_dphi_plus",
    "n_jets_dequantised",
    "log_met",
    "atanh_dphi_met",
)
_FLOW_EDGE = 1.0 - 1e-7  # atanh's argument stays finite at the edges


def _log_cosh(t: Array) -> Array:
    """log(cosh(t)) without overflow."""
    a = np.abs(t)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)


def encode_flow(frame: Mapping[str, Array] | pd.DataFrame, rng: np.random.Generator) -> Array:
    """The flow's raw coordinates of events' low-level features; ``rng`` draws the
    dequantisation noise of n_jets."""
    col = {c: np.asarray(frame[c], dtype=np.float64) for c in LOW_LEVEL_FEATURES}
    ref = col["mu_minus_phi"]
    back = _wrap(col["mu_plus_phi"] - ref - np.pi)  # 0 when back to back
    d_met = _wrap(col["met_phi"] - ref)

    def atanh(v: Array) -> Array:
        return np.arctanh(np.clip(v, -_FLOW_EDGE, _FLOW_EDGE))

    return np.column_stack(
        [
            np.log(np.maximum(col["mu_minus_pt"] - MUON_PT_MIN, 1e-12)),
            atanh(col["mu_minus_eta"] / MUON_ABS_ETA_MAX),
            np.log(np.maximum(col["mu_plus_pt"] - MUON_PT_MIN, 1e-12)),
            atanh(col["mu_plus_eta"] / MUON_ABS_ETA_MAX),
            atanh(back / np.pi),
            col["n_jets"] + rng.uniform(0.0, 1.0, len(ref)),
            np.log(np.maximum(col["met"], 1e-12)),
            atanh(d_met / np.pi),
        ]
    )


def decode_flow(raw: Array, rng: np.random.Generator) -> dict[str, Array]:
    """Low-level features from the flow's raw coordinates; the mu- azimuth is drawn
    uniformly by ``rng`` and the other azimuths follow it."""
    raw = np.asarray(raw, dtype=np.float64)
    phi_ref = rng.uniform(-np.pi, np.pi, len(raw))
    logs = np.minimum(raw[:, [0, 2, 6]], _LOG_MAX)
    return {
        "mu_minus_pt": MUON_PT_MIN + np.exp(logs[:, 0]),
        "mu_minus_eta": MUON_ABS_ETA_MAX * np.tanh(raw[:, 1]),
        "mu_minus_phi": _wrap(phi_ref),
        "mu_plus_pt": MUON_PT_MIN + np.exp(logs[:, 1]),
        "mu_plus_eta": MUON_ABS_ETA_MAX * np.tanh(raw[:, 3]),
        "mu_plus_phi": _wrap(phi_ref + np.pi + np.pi * np.tanh(raw[:, 4])),
        "n_jets": np.floor(np.maximum(raw[:, 5], 0.0)),
        "met": np.exp(logs[:, 2]),
        "met_phi": _wrap(phi_ref + np.pi * np.tanh(raw[:, 7])),
    }


def flow_log_abs_jacobian(raw: Array) -> Array:
    """log |det d(raw) / d(x)| per event, x the low-level features without the global
    azimuth (pT, eta per muon, the relative azimuths, n_jets + u, met): each coordinate is
    a function of one feature, so the determinant is the product of the derivatives."""
    raw = np.asarray(raw, dtype=np.float64)
    log_eta = 2.0 * _log_cosh(raw[:, [1, 3]]).sum(axis=1) - 2.0 * math.log(MUON_ABS_ETA_MAX)
    log_phi = 2.0 * _log_cosh(raw[:, [4, 7]]).sum(axis=1) - 2.0 * math.log(np.pi)
    return -raw[:, 0] - raw[:, 2] - raw[:, 6] + log_eta + log_phi


def flow_pair_mass(raw: Array) -> Array:
    """The dimuon mass [GeV] of the flow's raw coordinates (massless muons):
    m^2 = 4 pT1 pT2 (sinh^2(d eta / 2) + cos^2(w / 2)), w the azimuth from back to back."""
    pt_m = MUON_PT_MIN + np.exp(np.minimum(raw[:, 0], _LOG_MAX))
    pt_p = MUON_PT_MIN + np.exp(np.minimum(raw[:, 2], _LOG_MAX))
    d_eta = MUON_ABS_ETA_MAX * (np.tanh(raw[:, 1]) - np.tanh(raw[:, 3]))
    cos2_half = np.cos(np.pi * np.tanh(raw[:, 4]) / 2.0) ** 2
    return 2.0 * np.sqrt(pt_m * pt_p * (np.sinh(d_eta / 2.0) ** 2 + cos2_half))
