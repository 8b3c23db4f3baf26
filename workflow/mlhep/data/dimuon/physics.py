"""The toy dimuon collider dataset: exact latent densities, the bijective map to muon
kinematics, acceptance, and the exact Bayes-optimal discriminant.

A resonance (signal) decaying to two muons over a falling continuum (background) is
generated from pair-level latent variables with known densities, then mapped one-to-one
onto the observed muons (ordered by charge). Because the map is a bijection shared by
both classes, the likelihood ratio of the observed features equals the ratio of the
latent densities (the Jacobian cancels), so the Bayes-optimal classifier is exact. The
acceptance, which rescales each class's density and couples the pair latents, is handled
in :mod:`mlhep.data.dimuon.acceptance`.
See ``docs/DESIGN.md`` (section "The toy collider dataset").
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

# --- physics constants (docs/DESIGN.md) ---------------------------------------------------
M_LOW, M_HIGH = 100.0, 150.0  # pair-mass range [GeV]
M_PEAK, BW_GAMMA, RES_SIGMA = 125.0, 2.0, 2.0  # Voigt: Cauchy half width, Gaussian sigma
BKG_M_SCALE = 30.0  # background mass density exp(-m / 30)
SIG_PT_SHAPE, SIG_PT_SCALE = 2.0, 20.0
BKG_PT_SHAPE, BKG_PT_SCALE = 1.5, 15.0
SIG_Y_SIGMA, BKG_Y_SIGMA = 1.0, 1.4
SIG_NJETS_MEAN, BKG_NJETS_MEAN = 1.2, 0.6
MET_SIGMA = 10.0  # Rayleigh scale, same for both classes
MUON_PT_MIN, MUON_ABS_ETA_MAX = 20.0, 2.4  # acceptance per muon

#: Latent variables per event, in the order of :class:`Latent`'s fields.
LATENT_NAMES = (
    "m",
    "pt",
    "y",
    "phi",
    "cos_theta",
    "phi_star",
    "n_jets",
    "met",
    "met_phi",
)
#: Latent variables whose densities differ between signal and background.
INFORMATIVE_LATENTS = ("m", "pt", "y", "cos_theta", "n_jets")
#: Observed low-level features, in the order they are written.
LOW_LEVEL_FEATURES = (
    "mu_minus_pt",
    "mu_minus_eta",
    "mu_minus_phi",
    "mu_plus_pt",
    "mu_plus_eta",
    "mu_plus_phi",
    "n_jets",
    "met",
    "met_phi",
)


@dataclass(frozen=True)
class Latent:
    """Pair-level latent variables of a batch of events (arrays of equal length)."""

    m: Array
    pt: Array
    y: Array
    phi: Array
    cos_theta: Array
    phi_star: Array
    n_jets: NDArray[np.int64]
    met: Array
    met_phi: Array

    def __len__(self) -> int:
        return len(self.m)

    def take(self, index: NDArray[np.bool_] | NDArray[np.intp]) -> Latent:
        """The events selected by a boolean mask or an index array."""
        return Latent(*(getattr(self, name)[index] for name in LATENT_NAMES))

    @staticmethod
    def concatenate(parts: list[Latent]) -> Latent:
        """Join batches end to end."""
        return Latent(*(np.concatenate([getattr(p, n) for p in parts]) for n in LATENT_NAMES))


# --- latent densities ----------------------------------------------------------------------
@functools.cache
def _voigt_norm() -> float:
    """Integral of the Voigt profile over the mass range (truncation normalisation)."""
    from scipy import integrate, special  # here, not at import: the parse needs no SciPy

    value, _ = integrate.quad(
        lambda m: special.voigt_profile(m - M_PEAK, RES_SIGMA, BW_GAMMA),
        M_LOW,
        M_HIGH,
        points=[M_PEAK],
        epsabs=1e-14,
        epsrel=1e-12,
        limit=200,
    )
    return float(value)


def _exp_norm() -> float:
    """Integral of exp(-m / scale) over the mass range."""
    s = BKG_M_SCALE
    return s * (np.exp(-M_LOW / s) - np.exp(-M_HIGH / s))


def log_pdf_m(m: Array, signal: bool) -> Array:
    """Log density of the pair mass, truncated to [M_LOW, M_HIGH] and normalised there."""
    m = np.asarray(m, dtype=float)
    inside = (m >= M_LOW) & (m <= M_HIGH)
    with np.errstate(divide="ignore"):
        if signal:
            from scipy import special

            dens = special.voigt_profile(m - M_PEAK, RES_SIGMA, BW_GAMMA) / _voigt_norm()
            out = np.log(dens)
        else:
            out = -m / BKG_M_SCALE - np.log(_exp_norm())
    return np.where(inside, out, -np.inf)


def cdf_m(m: Array, signal: bool) -> Array:
    """CDF of the truncated pair-mass density (for goodness-of-fit tests)."""
    m = np.clip(np.asarray(m, dtype=float), M_LOW, M_HIGH)
    if not signal:
        s = BKG_M_SCALE
        return s * (np.exp(-M_LOW / s) - np.exp(-m / s)) / _exp_norm()
    grid = _voigt_cdf_grid()
    return np.interp(m, grid[0], grid[1])


@functools.cache
def _voigt_cdf_grid(n: int = 50_001) -> tuple[Array, Array]:
    """Tabulated CDF of the truncated Voigt density (Simpson accuracy, about 1e-12)."""
    from scipy import integrate, special

    x = np.linspace(M_LOW, M_HIGH, n)
    pdf = special.voigt_profile(x - M_PEAK, RES_SIGMA, BW_GAMMA)
    cdf = integrate.cumulative_simpson(pdf, x=x, initial=0.0)
    return x, cdf / cdf[-1]


def cdf_cos_theta_background(c: Array) -> Array:
    """CDF of the background density 3/8 (1 + c^2) on [-1, 1]."""
    c = np.clip(np.asarray(c, dtype=float), -1.0, 1.0)
    return (3.0 * c + c**3 + 4.0) / 8.0


#: The pair latents: the acceptance depends on them (and on phi* - phi) and couples them.
PAIR_LATENTS = ("m", "pt", "y", "cos_theta")


def log_pdf_latent(name: str, values: Array, signal: bool) -> Array:
    """Generation-level (before acceptance) log density of one informative latent.

    ``name`` is one of :data:`INFORMATIVE_LATENTS`; n_jets gets its log probability mass.
    """
    from scipy import stats

    v = np.asarray(values)
    if name == "m":
        return log_pdf_m(v, signal)
    if name == "pt":
        shape, scale = (SIG_PT_SHAPE, SIG_PT_SCALE) if signal else (BKG_PT_SHAPE, BKG_PT_SCALE)
        return stats.gamma.logpdf(v, shape, scale=scale)
    if name == "y":
        return stats.norm.logpdf(v, scale=SIG_Y_SIGMA if signal else BKG_Y_SIGMA)
    if name == "cos_theta":  # signal 1/2 (spin 0), background 3/8 (1 + c^2); |c| <= 1
        v = np.asarray(v, dtype=float)
        return np.log(np.full(v.shape, 0.5) if signal else 0.375 * (1.0 + v * v))
    if name == "n_jets":
        return stats.poisson.logpmf(v, SIG_NJETS_MEAN if signal else BKG_NJETS_MEAN)
    raise ValueError(f"unknown latent variable {name!r}; known: {INFORMATIVE_LATENTS}")


def latent_log_terms(
    m: Array, pt: Array, y: Array, cos_theta: Array, n_jets: Array
) -> dict[str, Array]:
    """Per-variable log-likelihood-ratio terms log p_S(v) - log p_B(v) of the informative
    latents, at generation level (before acceptance).

    The uninformative latents (phi, phi*, met, met_phi) have equal densities in both classes
    and contribute zero. Latents are independent within each class at generation, so the
    generation-level ratio of any subset of them is the sum of its terms. (After the
    acceptance the pair latents are no longer independent: see
    :mod:`mlhep.data.dimuon.acceptance`.)
    """
    values = {"m": m, "pt": pt, "y": y, "cos_theta": cos_theta, "n_jets": n_jets}
    return {
        name: log_pdf_latent(name, v, True) - log_pdf_latent(name, v, False)
        for name, v in values.items()
    }


# --- sampling --------------------------------------------------------------------------------
def _sample_m(rng: np.random.Generator, n: int, signal: bool) -> Array:
    """Pair masses from the truncated density: Voigt by rejection, exponential by inverse CDF."""
    if not signal:
        s = BKG_M_SCALE
        u = rng.random(n)
        lo, hi = np.exp(-M_LOW / s), np.exp(-M_HIGH / s)
        return -s * np.log(lo - u * (lo - hi))
    out = np.empty(0)
    while len(out) < n:
        need = n - len(out)
        k = int(need * 1.1) + 16
        m = M_PEAK + BW_GAMMA * rng.standard_cauchy(k) + RES_SIGMA * rng.standard_normal(k)
        out = np.concatenate([out, m[(m >= M_LOW) & (m <= M_HIGH)][:need]])
    return out


def _sample_cos_theta_background(rng: np.random.Generator, n: int) -> Array:
    """Inverse CDF of 3/8 (1 + c^2): the real root of c^3 + 3c + 4 - 8u = 0 (Cardano)."""
    q = 4.0 - 8.0 * rng.random(n)  # c^3 + 3 c + q = 0, discriminant q^2/4 + 1 > 0
    root = np.sqrt(q * q / 4.0 + 1.0)
    return np.cbrt(-q / 2.0 + root) + np.cbrt(-q / 2.0 - root)


def sample_latent(rng: np.random.Generator, n: int, signal: bool) -> Latent:
    """Draw ``n`` events' latent variables from the generation densities (before acceptance)."""
    if signal:
        pt = rng.gamma(SIG_PT_SHAPE, SIG_PT_SCALE, n)
        y = rng.normal(0.0, SIG_Y_SIGMA, n)
        cos_theta = rng.uniform(-1.0, 1.0, n)
        n_jets = rng.poisson(SIG_NJETS_MEAN, n)
    else:
        pt = rng.gamma(BKG_PT_SHAPE, BKG_PT_SCALE, n)
        y = rng.normal(0.0, BKG_Y_SIGMA, n)
        cos_theta = _sample_cos_theta_background(rng, n)
        n_jets = rng.poisson(BKG_NJETS_MEAN, n)
    return Latent(
        m=_sample_m(rng, n, signal),
        pt=pt,
        y=y,
        phi=rng.uniform(-np.pi, np.pi, n),
        cos_theta=cos_theta,
        phi_star=rng.uniform(0.0, 2.0 * np.pi, n),
        n_jets=n_jets.astype(np.int64),
        met=rng.rayleigh(MET_SIGMA, n),
        met_phi=rng.uniform(-np.pi, np.pi, n),
    )


# --- kinematics ------------------------------------------------------------------------------
def _wrap_phi(phi: Array) -> Array:
    """Map angles into (-pi, pi]."""
    return np.where(phi <= -np.pi, phi + 2.0 * np.pi, phi)


def _pt_eta_phi(px: Array, py: Array, pz: Array) -> tuple[Array, Array, Array]:
    """Transverse momentum, pseudorapidity and azimuth of massless momenta."""
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / pt), _wrap_phi(np.arctan2(py, px))


def _boost(
    e: Array,
    p: tuple[Array, Array, Array],
    pair: tuple[Array, Array, Array, Array],
    m: Array,
    sign: float,
) -> tuple[Array, tuple[Array, Array, Array]]:
    """Pure boost of four-momenta (e, p) by the pair's velocity (sign +1: rest frame -> lab).

    With the pair (E, P) of mass m, s = sign:
    E' = (E e + s P.p) / m and p' = p + s P (e / m + s P.p / (m (E + m))).
    """
    big_e, px, py, pz = pair
    dot = px * p[0] + py * p[1] + pz * p[2]
    e_new = (big_e * e + sign * dot) / m
    factor = sign * (e / m + sign * dot / (m * (big_e + m)))
    return e_new, (p[0] + factor * px, p[1] + factor * py, p[2] + factor * pz)


FourVector = tuple[Array, Array, Array, Array]


def latent_to_four_vectors(lat: Latent) -> dict[str, FourVector]:
    """Lab four-momenta (E, px, py, pz) of the mu- and mu+ built from the latent variables.

    The pair (m, pT, y, phi) gives E = mT cosh y, pz = mT sinh y; in the pair rest frame
    the massless mu- has momentum m/2 along (theta*, phi*) and the mu+ the opposite; both
    are boosted to the lab along the pair velocity.
    """
    mt = np.sqrt(lat.m**2 + lat.pt**2)
    pair = (
        mt * np.cosh(lat.y),
        lat.pt * np.cos(lat.phi),
        lat.pt * np.sin(lat.phi),
        mt * np.sinh(lat.y),
    )
    half = lat.m / 2.0
    sin_theta = np.sqrt(np.clip(1.0 - lat.cos_theta**2, 0.0, None))
    p_star = (
        half * sin_theta * np.cos(lat.phi_star),
        half * sin_theta * np.sin(lat.phi_star),
        half * lat.cos_theta,
    )
    out: dict[str, FourVector] = {}
    for name, sgn in (("mu_minus", 1.0), ("mu_plus", -1.0)):
        p_rest = (sgn * p_star[0], sgn * p_star[1], sgn * p_star[2])
        e, p = _boost(half, p_rest, pair, lat.m, +1.0)
        out[name] = (e, *p)
    return out


def latent_to_muons(lat: Latent) -> dict[str, Array]:
    """Map latent variables one-to-one onto the muons' (pt, eta, phi), ordered by charge."""
    out: dict[str, Array] = {}
    for name, (_, px, py, pz) in latent_to_four_vectors(lat).items():
        out[f"{name}_pt"], out[f"{name}_eta"], out[f"{name}_phi"] = _pt_eta_phi(px, py, pz)
    return out


def muon_four_vectors(pt: Array, eta: Array, phi: Array) -> tuple[Array, Array, Array, Array]:
    """(E, px, py, pz) of massless particles from (pt, eta, phi)."""
    return pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)


def pair_kinematics(obs: Mapping[str, Array]) -> dict[str, Array]:
    """Pair mass, pT, rapidity, azimuth and the mu- rest-frame angles, from the two muons.

    This inverts :func:`latent_to_muons`: the mu- is boosted back into the pair rest frame
    (pure boost, axes parallel to the lab's), where cos(theta*) is measured from the lab z
    axis and phi* from the lab x axis, in [0, 2 pi).
    """
    e1, px1, py1, pz1 = muon_four_vectors(
        obs["mu_minus_pt"], obs["mu_minus_eta"], obs["mu_minus_phi"]
    )
    e2, px2, py2, pz2 = muon_four_vectors(obs["mu_plus_pt"], obs["mu_plus_eta"], obs["mu_plus_phi"])
    pair = (e1 + e2, px1 + px2, py1 + py2, pz1 + pz2)
    _, px, py, pz = pair
    # massless muons: m^2 = 2 pt1 pt2 (cosh(d eta) - cos(d phi))
    #                     = 4 pt1 pt2 (sinh^2(d eta / 2) + sin^2(d phi / 2)), free of cancellation
    d_eta = obs["mu_minus_eta"] - obs["mu_plus_eta"]
    d_phi = obs["mu_minus_phi"] - obs["mu_plus_phi"]
    sh, sn = np.sinh(d_eta / 2.0), np.sin(d_phi / 2.0)
    m = 2.0 * np.sqrt(obs["mu_minus_pt"] * obs["mu_plus_pt"] * (sh * sh + sn * sn))
    pt = np.hypot(px, py)
    _, p_star = _boost(e1, (px1, py1, pz1), pair, m, -1.0)
    p_abs = np.sqrt(p_star[0] ** 2 + p_star[1] ** 2 + p_star[2] ** 2)
    return {
        "m": m,
        "pt": pt,
        "y": np.arcsinh(pz / np.sqrt(m**2 + pt**2)),
        "phi": _wrap_phi(np.arctan2(py, px)),
        "cos_theta": p_star[2] / p_abs,
        "phi_star": np.mod(np.arctan2(p_star[1], p_star[0]), 2.0 * np.pi),
    }


def observed_to_latent(obs: Mapping[str, Array]) -> Latent:
    """Reconstruct every latent variable from the observed low-level features."""
    pk = pair_kinematics(obs)
    return Latent(
        m=pk["m"],
        pt=pk["pt"],
        y=pk["y"],
        phi=pk["phi"],
        cos_theta=pk["cos_theta"],
        phi_star=pk["phi_star"],
        n_jets=np.asarray(obs["n_jets"]).astype(np.int64),
        met=np.asarray(obs["met"], dtype=float),
        met_phi=np.asarray(obs["met_phi"], dtype=float),
    )


def passes_acceptance(muons: Mapping[str, Array]) -> NDArray[np.bool_]:
    """Each muon pT > 20 GeV and |eta| < 2.4."""
    ok = np.ones(len(muons["mu_minus_pt"]), dtype=bool)
    for name in ("mu_minus", "mu_plus"):
        ok &= (muons[f"{name}_pt"] > MUON_PT_MIN) & (
            np.abs(muons[f"{name}_eta"]) < MUON_ABS_ETA_MAX
        )
    return ok


# --- Bayes-optimal discriminant ------------------------------------------------------------
def bayes_log_likelihood_ratio(
    obs: Mapping[str, Array], latents: tuple[str, ...] = INFORMATIVE_LATENTS
) -> Array:
    """Generation-level log-likelihood ratio log p_S / p_B of ``latents``, from the observed
    low-level features: the sum of their :func:`latent_log_terms`, before acceptance.

    For accepted events this is the exact ratio up to a constant only when ``latents`` hold
    all four pair latents (:data:`PAIR_LATENTS`; the acceptance then rescales each class's
    density by its efficiency: add log(eff_B / eff_S) to normalise) or none of them (then it
    is exact as it stands). For other subsets the acceptance couples the pair latents and
    this is not the limit: use
    :func:`mlhep.data.dimuon.acceptance.accepted_log_likelihood_ratio`, which returns the
    normalised ratio of the accepted densities in every case it can compute.
    """
    unknown = set(latents) - set(INFORMATIVE_LATENTS)
    if unknown:
        raise ValueError(
            f"unknown latent variable(s) {sorted(unknown)}; known: {INFORMATIVE_LATENTS}"
        )
    lat = observed_to_latent(obs)
    terms = latent_log_terms(lat.m, lat.pt, lat.y, lat.cos_theta, lat.n_jets)
    total = np.zeros(len(lat))
    for name in latents:
        total = total + terms[name]
    return total


# --- event generation ------------------------------------------------------------------------
def generate_accepted(
    rng: np.random.Generator, n: int, signal: bool
) -> tuple[Latent, dict[str, Array], int]:
    """``n`` events of one class that pass the acceptance (rejected ones are regenerated).

    Returns the latents, the observed muons and the number of generated events (for the
    acceptance efficiency).
    """
    parts: list[Latent] = []
    have, tried = 0, 0
    while have < n:
        k = max(int((n - have) * 1.7), 64)
        lat = sample_latent(rng, k, signal)
        (kept,) = np.nonzero(passes_acceptance(latent_to_muons(lat)))
        kept = kept[: n - have]
        # count the tries up to the last event used, so that n / tried estimates the efficiency
        tried += int(kept[-1]) + 1 if have + len(kept) == n else k
        parts.append(lat.take(kept))
        have += len(kept)
    latent = Latent.concatenate(parts) if parts else sample_latent(rng, 0, signal)
    return latent, latent_to_muons(latent), tried


@dataclass(frozen=True)
class Chunk:
    """One chunk of generated events: observed columns plus the latents (for checks)."""

    columns: dict[str, NDArray]
    latent: Latent
    n_tried_signal: int
    n_tried_background: int


CHUNK_SIZE = 200_000  # events per chunk: bounds the memory; part of the seed's definition


def generate_chunks(
    n_signal: int, n_background: int, seed: int, weight_signal: float, weight_background: float
) -> Iterator[Chunk]:
    """Generate the sample in chunks of :data:`CHUNK_SIZE` events with bounded memory.

    Chunk k holds the events ``[k C, (k + 1) C)``; both classes are spread evenly over the
    chunks and shuffled within each. Chunk k draws from its own child seed
    ``SeedSequence(seed).spawn``, so the result depends on the seed alone.
    """
    n_total = n_signal + n_background
    frac = n_signal / n_total if n_total else 0.0
    n_chunks = -(-n_total // CHUNK_SIZE)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    for k in range(n_chunks):
        rng = np.random.default_rng(seeds[k])
        start, stop = k * CHUNK_SIZE, min((k + 1) * CHUNK_SIZE, n_total)
        n_sig = round(stop * frac) - round(start * frac)
        n_bkg = (stop - start) - n_sig
        lat_s, mu_s, tried_s = generate_accepted(rng, n_sig, True)
        lat_b, mu_b, tried_b = generate_accepted(rng, n_bkg, False)
        latent = Latent.concatenate([lat_s, lat_b])
        label = np.concatenate([np.ones(n_sig, np.int32), np.zeros(n_bkg, np.int32)])
        cols: dict[str, NDArray] = {k2: np.concatenate([mu_s[k2], mu_b[k2]]) for k2 in mu_s}
        cols["n_jets"] = latent.n_jets.astype(np.int32)
        cols["met"] = latent.met
        cols["met_phi"] = latent.met_phi
        cols["label"] = label
        cols["weight"] = np.where(label == 1, weight_signal, weight_background)
        order = rng.permutation(stop - start)
        cols = {name: cols[name][order] for name in (*LOW_LEVEL_FEATURES, "label", "weight")}
        cols = {"event_id": np.arange(start, stop, dtype=np.int64), **cols}
        yield Chunk(cols, latent.take(order), tried_s, tried_b)
