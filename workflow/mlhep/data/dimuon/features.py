"""Feature engineering: the high-level pair observables computed from the muons, and the
bookkeeping that says which latent information a feature set carries (its Bayes limit).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mlhep.data.dimuon.acceptance import accepted_log_likelihood_ratio, check_pair_latents
from mlhep.data.dimuon.physics import (
    INFORMATIVE_LATENTS,
    LOW_LEVEL_FEATURES,
    PAIR_LATENTS,
    pair_kinematics,
)

#: Engineered high-level columns, each a function of the two muons.
HIGH_LEVEL_FEATURES = (
    "m_mumu",
    "pt_mumu",
    "y_mumu",
    "cos_theta_star",
    "delta_eta",
    "delta_phi",
    "delta_r",
)
ALL_FEATURES = LOW_LEVEL_FEATURES + HIGH_LEVEL_FEATURES
#: Axis label (with unit) of every feature column, for plots.
FEATURE_LABELS = {
    "mu_minus_pt": r"$p_T(\mu^-)$ [GeV]",
    "mu_minus_eta": r"$\eta(\mu^-)$",
    "mu_minus_phi": r"$\phi(\mu^-)$ [rad]",
    "mu_plus_pt": r"$p_T(\mu^+)$ [GeV]",
    "mu_plus_eta": r"$\eta(\mu^+)$",
    "mu_plus_phi": r"$\phi(\mu^+)$ [rad]",
    "n_jets": r"$N_\mathrm{jets}$",
    "met": r"$E_T^\mathrm{miss}$ [GeV]",
    "met_phi": r"$\phi(E_T^\mathrm{miss})$ [rad]",
    "m_mumu": r"$m_{\mu\mu}$ [GeV]",
    "pt_mumu": r"$p_T^{\mu\mu}$ [GeV]",
    "y_mumu": r"$y_{\mu\mu}$",
    "cos_theta_star": r"$\cos\theta^*$ ($\mu^-$, pair rest frame)",
    "delta_eta": r"$\Delta\eta(\mu^+, \mu^-)$",
    "delta_phi": r"$\Delta\phi(\mu^+, \mu^-)$ [rad]",
    "delta_r": r"$\Delta R(\mu^+, \mu^-)$",
}
#: Bookkeeping columns carried along with the features.
META_COLUMNS = ("event_id", "label", "weight")

#: The charge-ordered muons' columns (what :func:`engineer` needs).
MUON_COLUMNS = tuple(c for c in LOW_LEVEL_FEATURES if c.startswith("mu_"))
_MUON_COLUMNS = frozenset(MUON_COLUMNS)
_PAIR_LATENTS = frozenset(PAIR_LATENTS)
#: Informative latents each column depends on (a superset is safe: it can only refuse).
_DEPENDS_ON: dict[str, frozenset[str]] = {
    **{c: _PAIR_LATENTS for c in _MUON_COLUMNS},
    "n_jets": frozenset({"n_jets"}),
    "met": frozenset(),
    "met_phi": frozenset(),
    "m_mumu": frozenset({"m"}),
    "pt_mumu": frozenset({"pt"}),
    "y_mumu": frozenset({"y"}),
    "cos_theta_star": frozenset({"cos_theta"}),
    "delta_eta": _PAIR_LATENTS,
    "delta_phi": _PAIR_LATENTS,
    "delta_r": _PAIR_LATENTS,
}
#: Columns that alone determine an informative latent.
_DETERMINES: dict[str, str] = {
    "n_jets": "n_jets",
    "m_mumu": "m",
    "pt_mumu": "pt",
    "y_mumu": "y",
    "cos_theta_star": "cos_theta",
}


def engineer(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the high-level columns appended (computed from the muons)."""
    missing = [c for c in _MUON_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"cannot engineer features: missing column(s) {sorted(missing)}")
    obs = {c: frame[c].to_numpy(dtype=float) for c in _MUON_COLUMNS}
    pair = pair_kinematics(obs)
    d_eta = obs["mu_minus_eta"] - obs["mu_plus_eta"]
    d_phi = np.abs(np.angle(np.exp(1j * (obs["mu_minus_phi"] - obs["mu_plus_phi"]))))
    high = pd.DataFrame(
        {
            "m_mumu": pair["m"],
            "pt_mumu": pair["pt"],
            "y_mumu": pair["y"],
            "cos_theta_star": pair["cos_theta"],
            "delta_eta": d_eta,
            "delta_phi": d_phi,
            "delta_r": np.hypot(d_eta, d_phi),
        },
        index=frame.index,
    )
    return pd.concat([frame, high], axis=1)


def bayes_latents(columns: Iterable[str]) -> tuple[str, ...]:
    """The informative latents a feature set determines, when its Bayes limit is exact.

    The limit is the likelihood ratio of the accepted densities of these latents
    (:func:`~mlhep.data.dimuon.acceptance.accepted_log_likelihood_ratio`). It is exact when

    - every column is a function of latents the set determines (and of uninformative ones:
      phi, phi*, met, met_phi), and
    - the set determines all four pair latents (m, pT, y, cos theta*: the acceptance only
      rescales their joint density), exactly one of them (its acceptance profile corrects
      the marginal ratio), or none (the acceptance leaves n_jets independent).

    Raises ``ValueError`` saying why otherwise: a column carries information the set does
    not determine (delta_r alone, a single muon's momentum), or the set determines two or
    three pair latents (their accepted density needs a multi-dimensional acceptance
    integral, not computed).
    """
    cols = list(columns)
    unknown = sorted(set(cols) - set(_DEPENDS_ON))
    if unknown:
        raise ValueError(f"unknown feature column(s) {unknown}; known: {list(ALL_FEATURES)}")
    determined = {_DETERMINES[c] for c in cols if c in _DETERMINES}
    if set(cols) >= _MUON_COLUMNS:
        determined |= _PAIR_LATENTS
    needed = set().union(*(_DEPENDS_ON[c] for c in cols)) if cols else set()
    if not needed <= determined:
        raise ValueError(
            f"no exact Bayes limit: columns depend on {sorted(needed - determined)} "
            "which the feature set does not determine"
        )
    latents = tuple(name for name in INFORMATIVE_LATENTS if name in determined)
    check_pair_latents(latents)
    return latents


def bayes_scores(frame: pd.DataFrame, feature_columns: Iterable[str]) -> np.ndarray:
    """Exact log-likelihood ratio of each accepted event, log p(x | S, accepted) /
    p(x | B, accepted), limited to what ``feature_columns`` carry (:func:`bayes_latents`).

    Normalised: the exact posterior in a sample of n_S signal and n_B background events is
    sigmoid(score + log(n_S / n_B)).
    """
    latents = bayes_latents(feature_columns)
    obs = {c: frame[c].to_numpy() for c in LOW_LEVEL_FEATURES}
    return accepted_log_likelihood_ratio(obs, latents)
