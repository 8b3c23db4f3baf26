"""The acceptance of the toy dimuon dataset and the exact limit of accepted events.

Events are generated from independent latent variables and kept only when both muons
pass the acceptance (:func:`mlhep.data.dimuon.physics.passes_acceptance`). The cut depends
on the pair latents m, pT, y, cos(theta*) and on phi* - phi, never on n_jets, met or
met_phi, so after the cut

- n_jets, met and met_phi keep their generation densities, independent of the rest;
- the pair latents are no longer independent: class c's accepted density of (m, pT, y,
  cos theta*) is p_c(m) p_c(pT) p_c(y) p_c(cos theta*) A(m, pT, y, cos theta*) / eff_c, where
  A, the acceptance averaged over phi* - phi (uniform in both classes), is the same function
  for both classes and eff_c is the class's acceptance efficiency.

Hence the exact log-likelihood ratio of accepted events, for the informative latents a
feature set determines:

- all four pair latents: the generation ratio plus log(eff_B / eff_S) (A cancels);
- exactly one pair latent v: log[p_S(v) A_S(v) / eff_S] - log[p_B(v) A_B(v) / eff_B], where
  A_c(v) = P(accepted | v, class c) integrates the other pair latents over class c's
  densities (:func:`acceptance_profile`), plus the generation ratio of n_jets if carried;
- no pair latent: the generation ratio (the acceptance does not touch these latents);
- two or three pair latents: no exact limit here (it would need the acceptance integrated
  over the missing ones at every event, a multi-dimensional integral not computed).

The returned ratio is normalised: the exact posterior of an accepted event in a sample of
n_S signal and n_B background events is sigmoid(LLR + log(n_S / n_B)).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlhep.data.dimuon.physics import (
    INFORMATIVE_LATENTS,
    M_HIGH,
    M_LOW,
    MET_SIGMA,
    MUON_ABS_ETA_MAX,
    MUON_PT_MIN,
    PAIR_LATENTS,
    latent_log_terms,
    log_pdf_latent,
    observed_to_latent,
    sample_latent,
)

Array = NDArray[np.float64]

# --- acceptance efficiencies --------------------------------------------------------------
#: Fraction of generated signal / background events that pass the acceptance, and the
#: binomial standard errors of these Monte Carlo estimates. Computed once (45 s and 39 s on
#: one core) by ``acceptance_efficiency(True, 200_000_000, seed=20240601)`` and
#: ``acceptance_efficiency(False, 200_000_000, seed=20240602)``: 2e8 generated events per
#: class, relative standard errors 3.3e-5 and 5.0e-5. Recompute them (and these numbers)
#: whenever a generation density or the acceptance changes; a unit test re-estimates them.
ACCEPTANCE_SIGNAL = 0.82289422
ACCEPTANCE_SIGNAL_SE = 2.70e-5
ACCEPTANCE_BACKGROUND = 0.670232735
ACCEPTANCE_BACKGROUND_SE = 3.32e-5

_SINH2_ETA_MAX = float(np.sinh(MUON_ABS_ETA_MAX) ** 2)
_PT2_MIN = MUON_PT_MIN**2
_CHUNK = 2**20  # events per chunk of the Monte Carlo integrals (bounds the memory)


def accepted_pair(
    m: Array, pt: Array, y: Array, cos_theta: Array, dphi_star: Array
) -> NDArray[np.bool_]:
    """Whether both muons pass the acceptance, from the pair latents (arrays broadcast).

    ``dphi_star`` is phi* - phi: the cut is invariant under rotations about the beam, so
    the pair is rotated to phi = 0. The same kinematics as
    :func:`~mlhep.data.dimuon.physics.latent_to_four_vectors` (pure boost of the massless
    muons, momentum m/2 in the rest frame), reduced to what the cut needs: pT^2 > 20^2 and
    pz^2 < pT^2 sinh^2(2.4), i.e. |eta| < 2.4. About six times faster than building the
    muons, which makes the Monte Carlo integrals below cheap.
    """
    half = 0.5 * m
    mt = np.sqrt(m * m + pt * pt)
    big_e, big_pz = mt * np.cosh(y), mt * np.sinh(y)
    sin_theta = np.sqrt(np.clip(1.0 - cos_theta * cos_theta, 0.0, None))
    ax, ay = half * sin_theta * np.cos(dphi_star), half * sin_theta * np.sin(dphi_star)
    az = half * cos_theta
    # boost of (m/2, +-a): p = +-a + P (1/2 +- P.a / (m (E + m)))
    g = (pt * ax + big_pz * az) / (m * (big_e + m))
    ok = np.ones(np.broadcast(m, pt, y, cos_theta, dphi_star).shape, dtype=bool)
    for sign in (1.0, -1.0):  # mu-, then mu+ (opposite rest-frame momentum)
        f = 0.5 + sign * g
        px, pz = sign * ax + f * pt, sign * az + f * big_pz
        pt2 = px * px + ay * ay
        ok &= (pt2 > _PT2_MIN) & (pz * pz < pt2 * _SINH2_ETA_MAX)
    return ok


def acceptance_efficiency(signal: bool, n: int, seed: int) -> tuple[float, float]:
    """Monte Carlo estimate of the acceptance efficiency of one class, and its binomial
    standard error sqrt(eff (1 - eff) / n).

    ``n`` events are drawn with :func:`~mlhep.data.dimuon.physics.sample_latent` (the
    dataset's own generator) in chunks of 2^20, from ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    passed, done = 0, 0
    while done < n:
        k = min(_CHUNK, n - done)
        lat = sample_latent(rng, k, signal)
        passed += int(
            np.count_nonzero(
                accepted_pair(lat.m, lat.pt, lat.y, lat.cos_theta, lat.phi_star - lat.phi)
            )
        )
        done += k
    eff = passed / n
    return eff, float(np.sqrt(eff * (1.0 - eff) / n))


# --- conditional acceptance profiles -------------------------------------------------------
#: Tabulation nodes of each profile: |v| for y and cos(theta*) (A_c is even in both), a
#: finer pT grid where the densities are, and |y| up to the acceptance edge 2.4.
_PROFILE_GRIDS: dict[str, Array] = {
    "m": np.linspace(M_LOW, M_HIGH, 101),
    "pt": np.concatenate([np.linspace(0.0, 200.0, 101), np.linspace(210.0, 600.0, 40)]),
    "y": np.linspace(0.0, MUON_ABS_ETA_MAX, 97),
    # finer where A_c falls steeply (0.85-0.97: a muon leaves |eta| < 2.4 at typical |y|)
    "cos_theta": np.concatenate([np.linspace(0.0, 0.8, 41), np.linspace(0.805, 1.0, 40)]),
}
_EVEN = frozenset({"y", "cos_theta"})
PROFILE_SAMPLES = 2**17  # class-c draws of the other pair latents per profile
PROFILE_SEED = 20240603
_PROFILE_CHUNK = 2**12  # draws evaluated at every node at once


@dataclass(frozen=True, eq=False)
class AcceptanceProfile:
    """A_c(v) = P(accepted | v, class c) of one pair latent v, tabulated on ``grid``.

    The other pair latents are drawn from class c's generation densities and phi* - phi is
    uniform; the same draws serve every node (common random numbers), so the curve is
    smooth and its Monte Carlo error is mostly a common level, ``integral_se``. For y and
    cos(theta*) the nodes are |v| (A_c is even: the cut is symmetric under z -> -z and
    under exchanging the muons). A_c is interpolated linearly between nodes, is 0 for
    |y| >= 2.4 (the rapidity of a pair lies between its muons', so the muons cannot both
    be inside then) and constant beyond the last pT node (600 GeV).
    """

    latent: str
    signal: bool
    grid: Array
    values: Array
    n_samples: int
    #: The integral of p_c(v) A_c(v) (the interpolated A_c), an estimate of eff_c, and its
    #: standard error from the spread over the draws.
    integral: float
    integral_se: float

    def __call__(self, values: Array) -> Array:
        """A_c at arbitrary values of the latent."""
        x = np.asarray(values, dtype=float)
        if self.latent in _EVEN:
            x = np.abs(x)
        right = 0.0 if self.latent == "y" else float(self.values[-1])
        return np.interp(x, self.grid, self.values, right=right)

    def log(self, values: Array) -> Array:
        """log A_c: -inf where A_c is 0 (no accepted event can be there)."""
        with np.errstate(divide="ignore"):
            return np.log(self(values))


def _node_weights(latent: str, signal: bool, grid: Array) -> Array:
    """Weights w with sum_k w_k A_k = the integral of p_c(v) times the piecewise-linear
    interpolant of the node values A_k (hat functions, 16-point Gauss-Legendre per cell).

    For the even latents the nodes are |v| and the weights are doubled. The pT density
    beyond the last node (below 1e-12 in both classes) is neglected.
    """
    t, gl = np.polynomial.legendre.leggauss(16)
    lo, hi = grid[:-1, None], grid[1:, None]
    frac = (t[None, :] + 1.0) / 2.0  # position within each cell, in (0, 1)
    dens = np.exp(log_pdf_latent(latent, lo + frac * (hi - lo), signal))
    cell = dens * gl[None, :] * (hi - lo) / 2.0  # quadrature weight of each point
    w = np.zeros(len(grid))
    w[:-1] += (cell * (1.0 - frac)).sum(axis=1)
    w[1:] += (cell * frac).sum(axis=1)
    return 2.0 * w if latent in _EVEN else w


@functools.cache
def acceptance_profile(latent: str, signal: bool) -> AcceptanceProfile:
    """The tabulated A_c(v) of a pair latent for one class (computed once per process).

    :data:`PROFILE_SAMPLES` draws of the other pair latents and of phi* from class c's
    generation densities, seeded by (:data:`PROFILE_SEED`, latent, class), are evaluated
    at every node with :func:`accepted_pair`.
    """
    if latent not in PAIR_LATENTS:
        raise ValueError(f"no acceptance profile for {latent!r}; pair latents: {PAIR_LATENTS}")
    grid = _PROFILE_GRIDS[latent]
    rng = np.random.default_rng([PROFILE_SEED, PAIR_LATENTS.index(latent), int(signal)])
    draws = sample_latent(rng, PROFILE_SAMPLES, signal)
    quad = _node_weights(latent, signal, grid)  # integral of p_c A_c: quad @ node values
    passed = np.zeros(len(grid))
    per_draw = np.empty(PROFILE_SAMPLES)
    node = grid[:, None]
    for start in range(0, PROFILE_SAMPLES, _PROFILE_CHUNK):
        part = slice(start, start + _PROFILE_CHUNK)
        args = {
            name: node if name == latent else getattr(draws, name)[part][None, :]
            for name in PAIR_LATENTS
        }
        ok = accepted_pair(**args, dphi_star=draws.phi_star[part][None, :])
        passed += ok.sum(axis=1)
        per_draw[part] = quad @ ok
    values = passed / PROFILE_SAMPLES
    if latent == "y":
        values[-1] = 0.0  # exact at the edge (floating point could let a few through)
    return AcceptanceProfile(
        latent=latent,
        signal=signal,
        grid=grid,
        values=values,
        n_samples=PROFILE_SAMPLES,
        integral=float(per_draw.mean()),
        integral_se=float(per_draw.std(ddof=1) / np.sqrt(PROFILE_SAMPLES)),
    )


# --- the exact log-likelihood ratio of accepted events ---------------------------------------
def check_pair_latents(latents: Iterable[str]) -> None:
    """Raise ``ValueError`` unless the latents carry all, exactly one, or none of the pair
    latents: the cases whose accepted likelihood ratio is computed here."""
    pair = [name for name in PAIR_LATENTS if name in set(latents)]
    if len(pair) in (2, 3):
        missing = [name for name in PAIR_LATENTS if name not in pair]
        raise ValueError(
            f"no exact Bayes limit: the feature set determines the pair latents {pair} but not "
            f"{missing}; the acceptance couples them, so their accepted density needs the "
            f"acceptance integrated over {missing} at every event (a {len(missing)}-dimensional "
            "integral that is not computed). Exact limits exist for sets carrying all four "
            "pair latents, exactly one, or none."
        )


def accepted_log_likelihood_ratio(
    obs: Mapping[str, Array], latents: Iterable[str] = INFORMATIVE_LATENTS
) -> Array:
    """Exact log p(x | S, accepted) / p(x | B, accepted) of the information ``latents`` carry.

    Normalised: for accepted events in a sample of n_S signal and n_B background events the
    exact posterior is sigmoid(LLR + log(n_S / n_B)). ``obs`` holds the observed low-level
    features; ``latents`` (a subset of the informative latents) must hold all four pair
    latents, exactly one, or none (:func:`check_pair_latents`). Events no accepted event
    can resemble (A_S = A_B = 0, e.g. |y| >= 2.4) get NaN; ones possible in one class only
    get +-inf.
    """
    names = tuple(latents)
    unknown = set(names) - set(INFORMATIVE_LATENTS)
    if unknown:
        raise ValueError(
            f"unknown latent variable(s) {sorted(unknown)}; known: {INFORMATIVE_LATENTS}"
        )
    check_pair_latents(names)
    lat = observed_to_latent(obs)
    terms = latent_log_terms(lat.m, lat.pt, lat.y, lat.cos_theta, lat.n_jets)
    total = np.zeros(len(lat))
    for name in INFORMATIVE_LATENTS:
        if name in names:
            total = total + terms[name]
    pair = [name for name in PAIR_LATENTS if name in names]
    if not pair:
        return total  # the acceptance leaves n_jets (and met, met_phi) untouched
    total = total + np.log(ACCEPTANCE_BACKGROUND / ACCEPTANCE_SIGNAL)
    if len(pair) == 1:
        values = getattr(lat, pair[0])
        with np.errstate(invalid="ignore"):  # -inf - -inf: impossible in both classes
            total = total + (
                acceptance_profile(pair[0], True).log(values)
                - acceptance_profile(pair[0], False).log(values)
            )
    return total


def accepted_log_density(obs: Mapping[str, Array], signal: bool) -> Array:
    """Exact log density of accepted events of one class in the low-level features less
    the global azimuth: (pT, eta) of each muon, phi(mu+) - phi(mu-), n_jets (its
    probability: the density of n_jets + u for uniform u), met and met_phi - phi(mu-).

    The latents are independent at generation; the muons' (pT, eta, phi) map to the pair's
    (m, pT, y, phi, cos theta*, phi*) with |d latents / d muons| = 2 pT1 pT2 / (m pT) (two
    massless bodies: d3p1/E1 d3p2/E2 = m pT dm dpT dy dphi dOmega* / 2); phi, phi* and
    met_phi are uniform over 2 pi; the acceptance divides by the class's efficiency and
    the global azimuth, uniform, integrates out (a factor 2 pi).
    """
    lat = observed_to_latent(obs)
    log_two_pi = np.log(2.0 * np.pi)
    total = sum(log_pdf_latent(name, getattr(lat, name), signal) for name in INFORMATIVE_LATENTS)
    met = np.asarray(obs["met"], dtype=float)
    log_rayleigh = np.log(met / MET_SIGMA**2) - met**2 / (2.0 * MET_SIGMA**2)
    jacobian = np.log(
        2.0 * np.asarray(obs["mu_minus_pt"]) * np.asarray(obs["mu_plus_pt"]) / (lat.m * lat.pt)
    )
    efficiency = ACCEPTANCE_SIGNAL if signal else ACCEPTANCE_BACKGROUND
    # phi, phi* and met_phi uniform (three 1 / 2 pi); the global azimuth integrated (2 pi)
    return total + log_rayleigh + jacobian - np.log(efficiency) - 2.0 * log_two_pi
