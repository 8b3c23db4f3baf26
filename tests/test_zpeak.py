"""The unbinned Z-peak fit: its normalisation, its recovery of known parameters and its
pulls, the fit of the real CMS dimuon sample, the goodness of fit, the figures, the script."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from scipy.integrate import quad

from mlhep.studies.zpeak import (
    PARAMETERS,
    PDG_Z,
    ZPeakFit,
    background_density,
    density,
    draw_fit,
    draw_gof,
    fit_z_peak,
    goodness_of_fit,
    pdg_z,
    probability,
    sample_z_peak,
    z_peak_figures,
)

WINDOW = (70.0, 110.0)
TRUTH = {"mass": 91.19, "width": 2.5, "sigma": 1.5, "f_sig": 0.85, "slope": 0.03}
SCRIPT = Path(__file__).resolve().parent.parent / "workflow" / "scripts" / "z_peak.py"


def test_pdg_values_come_from_the_resources_file(tmp_path: Path) -> None:
    """The PDG 2024 Z mass and width, read from resources/pdg_z.yaml; a missing file says
    what is missing."""
    assert PDG_Z == {"mass": (91.188, 0.002), "width": (2.4955, 0.0023)}
    with pytest.raises(FileNotFoundError, match="the PDG Z values are missing"):
        pdg_z(tmp_path / "pdg_z.yaml")


@pytest.mark.parametrize(
    "params",
    [
        TRUTH,
        {"mass": 91.19, "width": 2.5, "sigma": 1.5, "f_sig": 0.5, "slope": 1e-13},
        {"mass": 91.19, "width": 2.5, "sigma": 1.5, "f_sig": 0.5, "slope": 0.0},
        {"mass": 75.0, "width": 0.05, "sigma": 0.02, "f_sig": 0.3, "slope": -0.2},
        {"mass": 108.0, "width": 10.0, "sigma": 6.0, "f_sig": 0.9, "slope": 0.4},
    ],
)
def test_pdf_is_normalised_on_the_window(params: dict[str, float]) -> None:
    """Adaptive quadrature of the density (the peak as a break point) gives 1 to 1e-6, and
    so does the model's own integral."""
    peak = min(max(params["mass"], WINDOW[0]), WINDOW[1])
    total = quad(
        lambda m: float(density(m, params, WINDOW)),
        *WINDOW,
        points=[peak],
        limit=500,
        epsabs=1e-12,
        epsrel=1e-12,
    )[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    assert float(probability(*WINDOW, params, WINDOW)) == pytest.approx(1.0, abs=1e-9)


def test_background_is_continuous_at_zero_slope() -> None:
    """The exponential tends to the flat density as the slope vanishes, from both sides."""
    m = np.linspace(*WINDOW, 9)
    flat = background_density(m, 0.0, WINDOW)
    np.testing.assert_allclose(flat, 1 / (WINDOW[1] - WINDOW[0]))
    for slope in (1e-9, -1e-9, 1e-14):
        np.testing.assert_allclose(background_density(m, slope, WINDOW), flat, rtol=1e-7)


def test_fit_recovers_known_parameters() -> None:
    """5000 events from the model: every parameter within 3 errors of its true value."""
    mass = sample_z_peak(TRUTH, WINDOW, 5000, np.random.default_rng(7))
    outside = np.array([50.0, 60.0, 120.0, np.nan])  # dropped by the window
    fit = fit_z_peak(np.concatenate([mass, outside]), WINDOW)
    assert fit.valid
    assert fit.n_events == 5000
    for name in PARAMETERS:
        assert abs(fit.values[name] - TRUTH[name]) < 3 * fit.errors[name], name
    assert set(fit.minos) == {"mass", "width", "sigma"}
    assert np.asarray(fit.covariance).shape == (5, 5)


def test_mass_pulls_are_standard() -> None:
    """Over 30 toys of 1000 events, (fit - true) / error of the mass has mean 0 and width 1
    within the toys' precision."""
    rng = np.random.default_rng(11)
    pulls = []
    for _ in range(30):
        fit = fit_z_peak(sample_z_peak(TRUTH, WINDOW, 1000, rng), WINDOW, minos=False)
        pulls.append((fit.values["mass"] - TRUTH["mass"]) / fit.errors["mass"])
    assert abs(np.mean(pulls)) < 0.5
    assert 0.6 < np.std(pulls, ddof=1) < 1.5


def test_too_few_events_in_the_window() -> None:
    """Fewer than 20 events in the window is refused with the count in the message."""
    mass = np.r_[np.full(15, 91.0), np.full(100, 150.0)]
    with pytest.raises(ValueError, match="15 events in the window"):
        fit_z_peak(mass, WINDOW)


@pytest.fixture(scope="module")
def cms_mass() -> np.ndarray:
    """m_mumu of the CMS 2010 Z->mumu sample: global-global pairs of opposite charge with
    both pT > 20 GeV, one pair per (Run, Event)."""
    import skhep_testdata  # both are run-time dependencies: missing, the test must fail
    import uproot

    with uproot.open(skhep_testdata.data_path("uproot-Zmumu.root")) as file:
        branches = ["Type", "Run", "Event", "Q1", "Q2", "pt1", "pt2", "M"]
        frame = pd.DataFrame(file["events"].arrays(branches, library="np"))
    # one row per muon-type combination (GG, GT, TT) of each physical event
    assert frame.duplicated(["Run", "Event"]).sum() > 1000
    pairs = frame[
        (frame["Type"] == "GG")
        & (frame["Q1"] * frame["Q2"] < 0)
        & (frame["pt1"] > 20)
        & (frame["pt2"] > 20)
    ]
    # an event with three muons has two such pairs: keep the one of the largest pT sum
    assert pairs.duplicated(["Run", "Event"]).sum() <= 0.01 * len(pairs)
    pairs = pairs.assign(pt_sum=pairs["pt1"] + pairs["pt2"]).sort_values("pt_sum")
    pairs = pairs.drop_duplicates(["Run", "Event"], keep="last")
    assert not pairs.duplicated(["Run", "Event"]).any()
    return pairs["M"].to_numpy(float)


@pytest.fixture(scope="module")
def cms_fit(cms_mass: np.ndarray) -> ZPeakFit:
    """The fit of the CMS sample in (70, 110) GeV."""
    return fit_z_peak(cms_mass, WINDOW)


def test_fit_of_the_cms_z_peak(cms_mass: np.ndarray, cms_fit: ZPeakFit) -> None:
    """The real Z: a valid fit, its mass within 1 GeV of the PDG's, a sensible width and
    resolution; the values printed (``pytest -s``)."""
    fit = cms_fit
    print(
        "\nCMS Z->mumu fit:",
        {k: f"{fit.values[k]:.3f} +- {fit.errors[k]:.3f}" for k in PARAMETERS},
        f"n={fit.n_events}",
        "deviations from the PDG:",
        fit.deviations(),
    )
    assert fit.valid
    assert fit.n_events == int(np.sum((cms_mass >= WINDOW[0]) & (cms_mass <= WINDOW[1])))
    assert abs(fit.values["mass"] - PDG_Z["mass"][0]) < 1.0
    assert 0.5 < fit.values["width"] < 6.0
    assert 0.1 < fit.values["sigma"] < 5.0
    assert fit.values["f_sig"] > 0.7
    record = json.loads(json.dumps(fit.to_dict()))
    assert record["pdg"]["mass"] == [91.188, 0.002]
    expected = (fit.values["mass"] - 91.188) / np.hypot(fit.errors["mass"], 0.002)
    assert record["deviation_from_pdg"]["mass"] == pytest.approx(expected)


def test_goodness_of_fit_of_model_data() -> None:
    """Data drawn from the model: the toys' p-value is not small, and the PIT is uniform."""
    mass = sample_z_peak(TRUTH, WINDOW, 500, np.random.default_rng(3))
    fit = fit_z_peak(mass, WINDOW, minos=False)
    gof = goodness_of_fit(mass, fit, bins=40, toys=30, seed=1)
    assert len(gof.toy_deviances) == 30
    assert gof.p_value > 0.01
    assert gof.ks_pvalue > 0.01
    assert np.all((gof.pit >= 0) & (gof.pit <= 1))
    assert json.loads(json.dumps(gof.to_dict()))["toys"] == 30


def test_goodness_of_fit_rejects_two_peaks() -> None:
    """Two narrow peaks of equal size, which one Voigt over an exponential cannot describe:
    the observed deviance beyond every toy's (p = 0)."""
    rng = np.random.default_rng(5)
    mass = np.r_[rng.normal(82.0, 1.0, 250), rng.normal(100.0, 1.0, 250)]
    fit = fit_z_peak(mass, WINDOW, minos=False)
    gof = goodness_of_fit(mass, fit, bins=40, toys=30, seed=2)
    assert gof.p_value == 0.0
    assert gof.deviance > gof.toy_deviances.max()


def test_figures_return_their_artists(cms_mass: np.ndarray, cms_fit: ZPeakFit) -> None:
    """The drawing functions draw (warnings are errors) and return artists; the convenience
    function lays out both figures."""
    gof = goodness_of_fit(cms_mass, cms_fit, bins=20, toys=5, seed=0)
    fig, (ax_main, ax_pull) = plt.subplots(2, 1, sharex=True)
    artists = draw_fit(ax_main, ax_pull, cms_mass, cms_fit, bins=20)
    assert isinstance(artists.text, Text)
    assert "PDG 91.1880" in artists.text.get_text()
    for artist in (artists.total, artists.density, artists.text, artists.legend):
        assert artist.axes is ax_main
    assert artists.pulls.axes is artists.zero.axes is ax_pull
    assert list(ax_pull.lines) == [artists.zero, artists.pulls]
    fig2, (ax, ax_pit) = plt.subplots(1, 2)
    drawn = draw_gof(ax, gof, ax_pit)
    assert len(drawn.toys) == 1 and drawn.toys[0].axes is ax  # one stepfilled patch
    assert drawn.observed.axes is ax and ax.get_legend() is drawn.legend
    assert drawn.pit and drawn.flat is not None and drawn.flat.axes is ax_pit
    fig3, ax3 = plt.subplots()
    assert draw_gof(ax3, gof).flat is None  # no PIT axes: no PIT
    fig_fit, fig_gof = z_peak_figures(cms_mass, cms_fit, gof, bins=20)
    for figure in (fig_fit, fig_gof):
        assert len(figure.axes) == 2
        figure.canvas.draw()
    for figure in (fig, fig2, fig3, fig_fit, fig_gof):
        plt.close(figure)


def test_script_writes_fit_and_figures(tmp_path: Path) -> None:
    """The Snakemake script on a feature table of two classes: it fits only the chosen
    label and writes the JSON record and both figures."""
    rng = np.random.default_rng(9)
    signal = sample_z_peak(TRUTH, WINDOW, 400, rng)
    frame = pd.DataFrame(
        {
            "label": np.r_[np.ones(400, int), np.zeros(300, int)],
            "m_mumu": np.r_[signal, rng.uniform(60, 120, 300)],
        }
    )
    frame.to_parquet(tmp_path / "features.parquet")
    outputs = {
        name: str(tmp_path / f"{name}.{ext}")
        for name, ext in (("fit", "json"), ("figure", "png"), ("gof", "png"))
    }
    smk = SimpleNamespace(
        input=SimpleNamespace(features=str(tmp_path / "features.parquet")),
        output=SimpleNamespace(**outputs),
        params=SimpleNamespace(label=1, column="m_mumu", window=[70, 110], bins=30, toys=5, seed=0),
        log=[str(tmp_path / "z_peak.log")],
    )
    runpy.run_path(str(SCRIPT), init_globals={"snakemake": smk})
    record = json.loads(Path(outputs["fit"]).read_text())
    assert record["n_events"] == 400
    assert record["goodness_of_fit"]["toys"] == 5
    assert abs(record["values"]["mass"] - TRUTH["mass"]) < 1.0
    for name in ("figure", "gof"):
        assert Path(outputs[name]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mass = " in (tmp_path / "z_peak.log").read_text()
