"""The toy dimuon physics: the map between latent variables and muons, acceptance (its
efficiencies and conditional profiles), the sampled densities, and the exact Bayes-optimal
discriminant."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, stats

from mlhep.data.dimuon import acceptance as acc
from mlhep.data.dimuon import physics as d

N_KS = 200_000  # a 2% shift of a scale parameter gives KS p-values far below 1e-6 here


def _observed(lat: d.Latent) -> dict[str, np.ndarray]:
    return {**d.latent_to_muons(lat), "n_jets": lat.n_jets, "met": lat.met, "met_phi": lat.met_phi}


@pytest.fixture(scope="module", params=[True, False], ids=["signal", "background"])
def accepted(request: pytest.FixtureRequest) -> tuple[bool, d.Latent, dict[str, np.ndarray]]:
    rng = np.random.default_rng(2024)
    lat, muons, _ = d.generate_accepted(rng, 50_000, request.param)
    return (
        request.param,
        lat,
        {**muons, "n_jets": lat.n_jets, "met": lat.met, "met_phi": lat.met_phi},
    )


def test_round_trip_latent_observed_latent(accepted) -> None:
    _, lat, obs = accepted
    back = d.observed_to_latent(obs)
    for name in d.LATENT_NAMES:
        np.testing.assert_allclose(
            getattr(back, name), getattr(lat, name), rtol=1e-9, atol=1e-12, err_msg=name
        )


def test_round_trip_observed_latent_observed(accepted) -> None:
    _, _, obs = accepted
    again = _observed(d.observed_to_latent(obs))
    for name in d.LOW_LEVEL_FEATURES:
        np.testing.assert_allclose(again[name], obs[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_dimuon_mass_is_generated_mass_and_muons_are_massless(accepted) -> None:
    _, lat, obs = accepted
    vectors = d.latent_to_four_vectors(lat)
    for e, px, py, pz in vectors.values():
        np.testing.assert_allclose(e, np.sqrt(px**2 + py**2 + pz**2), rtol=1e-12)
    total = [a + b for a, b in zip(vectors["mu_minus"], vectors["mu_plus"], strict=True)]
    m_four = np.sqrt(total[0] ** 2 - total[1] ** 2 - total[2] ** 2 - total[3] ** 2)
    np.testing.assert_allclose(m_four, lat.m, rtol=1e-8)
    np.testing.assert_allclose(np.hypot(total[1], total[2]), lat.pt, rtol=1e-10)
    np.testing.assert_allclose(d.pair_kinematics(obs)["m"], lat.m, rtol=1e-12)


def test_acceptance_holds_and_phi_in_range(accepted) -> None:
    _, _, obs = accepted
    assert d.passes_acceptance(obs).all()
    for name in ("mu_minus", "mu_plus"):
        assert (obs[f"{name}_pt"] > 20.0).all()
        assert (np.abs(obs[f"{name}_eta"]) < 2.4).all()
        phi = obs[f"{name}_phi"]
        assert ((phi > -np.pi) & (phi <= np.pi)).all()


def test_acceptance_rejects_soft_or_forward_muons() -> None:
    muons = {
        "mu_minus_pt": np.array([25.0, 19.9, 25.0, 25.0]),
        "mu_minus_eta": np.array([0.0, 0.0, 2.5, 0.0]),
        "mu_plus_pt": np.array([30.0, 30.0, 30.0, 30.0]),
        "mu_plus_eta": np.array([1.0, 1.0, 1.0, -2.41]),
    }
    assert d.passes_acceptance(muons).tolist() == [True, False, False, False]


def _ks_cases(signal: bool) -> dict[str, object]:
    """The specified CDF (or scipy distribution) of each continuous latent variable."""
    if signal:
        pt, y, cos = stats.gamma(2.0, scale=20.0), stats.norm(0, 1.0), stats.uniform(-1, 2).cdf
    else:
        pt, y, cos = stats.gamma(1.5, scale=15.0), stats.norm(0, 1.4), d.cdf_cos_theta_background
    return {
        "m": lambda x: d.cdf_m(x, signal),
        "pt": pt.cdf,
        "y": y.cdf,
        "cos_theta": cos,
        "phi": stats.uniform(-np.pi, 2 * np.pi).cdf,
        "phi_star": stats.uniform(0, 2 * np.pi).cdf,
        "met": stats.rayleigh(scale=10.0).cdf,
        "met_phi": stats.uniform(-np.pi, 2 * np.pi).cdf,
    }


@pytest.mark.parametrize("signal", [True, False], ids=["signal", "background"])
def test_latent_samples_follow_specified_densities(signal: bool) -> None:
    lat = d.sample_latent(np.random.default_rng(11), N_KS, signal)
    for name, cdf in _ks_cases(signal).items():
        p = stats.kstest(getattr(lat, name), cdf).pvalue
        assert p > 1e-3, f"{name}: KS p-value {p:.2g}"
    mean = 1.2 if signal else 0.6
    counts = np.bincount(lat.n_jets, minlength=8)[:8]
    expected = stats.poisson.pmf(np.arange(8), mean) * N_KS
    keep = expected > 20
    chi2 = (((counts - expected) ** 2) / expected)[keep].sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


@pytest.mark.parametrize(
    ("constant", "value", "variable", "signal"),
    [
        ("SIG_PT_SCALE", 20.4, "pt", True),
        ("BW_GAMMA", 2.3, "m", True),
        ("BKG_Y_SIGMA", 1.45, "y", False),
        ("BKG_M_SCALE", 31.0, "m", False),
    ],
)
def test_wrong_parameter_is_detected(
    monkeypatch: pytest.MonkeyPatch, constant: str, value: float, variable: str, signal: bool
) -> None:
    cdf = _ks_cases(signal)[variable]  # the specified density, taken before the change
    if variable == "m":
        # cdf_m reads the module constants at call time: freeze the correct table first
        x = np.linspace(d.M_LOW, d.M_HIGH, 20001)
        table = d.cdf_m(x, signal)
        cdf = lambda v: np.interp(v, x, table)  # noqa: E731
    monkeypatch.setattr(d, constant, value)
    lat = d.sample_latent(np.random.default_rng(11), N_KS, signal)
    assert stats.kstest(getattr(lat, variable), cdf).pvalue < 1e-6


@pytest.mark.parametrize("signal", [True, False])
def test_truncated_mass_density_is_normalised(signal: bool) -> None:
    value, _ = integrate.quad(
        lambda m: np.exp(d.log_pdf_m(np.array([m]), signal))[0], 100, 150, points=[125]
    )
    assert value == pytest.approx(1.0, rel=1e-9)
    assert np.isneginf(d.log_pdf_m(np.array([99.0, 151.0]), signal)).all()


def test_bayes_llr_equals_latent_density_ratio(accepted) -> None:
    _, lat, obs = accepted
    llr = d.bayes_log_likelihood_ratio(obs)
    direct = np.zeros(len(lat))
    for sig, sign in ((True, 1.0), (False, -1.0)):
        if sig:
            pt = stats.gamma.logpdf(lat.pt, 2.0, scale=20.0)
            y = stats.norm.logpdf(lat.y, scale=1.0)
            cos = np.full(len(lat), np.log(0.5))
            nj = stats.poisson.logpmf(lat.n_jets, 1.2)
        else:
            pt = stats.gamma.logpdf(lat.pt, 1.5, scale=15.0)
            y = stats.norm.logpdf(lat.y, scale=1.4)
            cos = np.log(3 / 8 * (1 + lat.cos_theta**2))
            nj = stats.poisson.logpmf(lat.n_jets, 0.6)
        direct += sign * (d.log_pdf_m(lat.m, sig) + pt + y + cos + nj)
    np.testing.assert_allclose(llr, direct, rtol=1e-9, atol=1e-9)
    without = d.bayes_log_likelihood_ratio(obs, ("m", "pt", "y", "cos_theta"))
    nj_term = stats.poisson.logpmf(lat.n_jets, 1.2) - stats.poisson.logpmf(lat.n_jets, 0.6)
    np.testing.assert_allclose(llr - without, nj_term, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="unknown latent"):
        d.bayes_log_likelihood_ratio(obs, ("m", "phi"))


def test_chunks_are_seeded_counted_and_weighted() -> None:
    chunks = list(d.generate_chunks(250_001, 160_000, 5, 0.5, 2.0))
    cols = {k: np.concatenate([c.columns[k] for c in chunks]) for k in chunks[0].columns}
    assert len(chunks) == 3
    np.testing.assert_array_equal(cols["event_id"], np.arange(410_001))
    assert (cols["label"] == 1).sum() == 250_001
    assert np.unique(cols["weight"][cols["label"] == 1]).tolist() == [0.5]
    assert np.unique(cols["weight"][cols["label"] == 0]).tolist() == [2.0]
    again = next(d.generate_chunks(250_001, 160_000, 5, 0.5, 2.0))
    other = next(d.generate_chunks(250_001, 160_000, 6, 0.5, 2.0))
    np.testing.assert_array_equal(again.columns["mu_minus_pt"], chunks[0].columns["mu_minus_pt"])
    assert not np.array_equal(other.columns["mu_minus_pt"], chunks[0].columns["mu_minus_pt"])
    # the latents travel with the observed columns, in the same (shuffled) order
    np.testing.assert_allclose(
        d.pair_kinematics(chunks[1].columns)["m"], chunks[1].latent.m, rtol=1e-12
    )


# --- acceptance: efficiencies and conditional profiles ----------------------------------------
@pytest.mark.parametrize("signal", [True, False], ids=["signal", "background"])
def test_fast_acceptance_equals_the_muon_cut(signal: bool) -> None:
    lat = d.sample_latent(np.random.default_rng(21), 200_000, signal)
    fast = acc.accepted_pair(lat.m, lat.pt, lat.y, lat.cos_theta, lat.phi_star - lat.phi)
    np.testing.assert_array_equal(fast, d.passes_acceptance(d.latent_to_muons(lat)))


@pytest.mark.parametrize("signal", [True, False], ids=["signal", "background"])
def test_acceptance_constants_agree_with_a_fresh_estimate(signal: bool) -> None:
    value, se = acc.acceptance_efficiency(signal, 2_000_000, seed=17)
    const = acc.ACCEPTANCE_SIGNAL if signal else acc.ACCEPTANCE_BACKGROUND
    const_se = acc.ACCEPTANCE_SIGNAL_SE if signal else acc.ACCEPTANCE_BACKGROUND_SE
    assert const_se / const < 1e-4
    assert abs(value - const) < 4.0 * np.hypot(se, const_se)


#: A range holding (nearly) all the generated density of each pair latent.
_DOMAINS = {"m": (100.0, 150.0), "pt": (0.0, 1000.0), "y": (-3.0, 3.0), "cos_theta": (-1.0, 1.0)}


@pytest.mark.parametrize("signal", [True, False], ids=["signal", "background"])
@pytest.mark.parametrize("latent", d.PAIR_LATENTS)
def test_acceptance_profile_integrates_to_the_efficiency(latent: str, signal: bool) -> None:
    """The integral of p_c(v) A_c(v) is eff_c, within 4 standard errors of the profile's
    Monte Carlo (the efficiency constant is 30 times more precise)."""
    profile = acc.acceptance_profile(latent, signal)
    assert profile.integral_se < 2e-3
    assert ((profile.values >= 0) & (profile.values <= 1)).all()
    v = np.linspace(*_DOMAINS[latent], 400_001)
    a = profile(v)
    if latent in ("y", "cos_theta"):
        np.testing.assert_allclose(a, a[::-1], rtol=1e-12, atol=1e-12)  # even
    integral = np.trapezoid(np.exp(d.log_pdf_latent(latent, v, signal)) * a, v)
    assert integral == pytest.approx(profile.integral, abs=2e-5)  # the profile's own quadrature
    assert (
        abs(integral - (acc.ACCEPTANCE_SIGNAL if signal else acc.ACCEPTANCE_BACKGROUND))
        < 4.0 * profile.integral_se
    )


def test_acceptance_profiles_are_zero_beyond_the_rapidity_edge_without_errors() -> None:
    y_profile = acc.acceptance_profile("y", True)
    assert y_profile(np.array([2.4, -2.4, 2.6]).tolist()).tolist() == [0.0, 0.0, 0.0]
    assert (y_profile(np.array([2.39, -2.39])) > 0).all()
    assert np.isneginf(y_profile.log(np.array([2.5]))).all()
    # an event no accepted event can resemble (|y| > 2.4) gets NaN, without a warning
    lat = d.sample_latent(np.random.default_rng(3), 4, True)
    lat = d.Latent(*(np.full(4, 2.6) if n == "y" else getattr(lat, n) for n in d.LATENT_NAMES))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = acc.accepted_log_likelihood_ratio(_observed(lat), ("y",))
    assert np.isnan(score).all()
