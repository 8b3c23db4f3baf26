"""An unbinned maximum-likelihood fit of the Z peak in the dimuon mass with iminuit: a
Breit-Wigner convolved with a Gaussian resolution (the Voigt profile) over an exponential
background, with a goodness-of-fit test by parametric bootstrap (binned Poisson deviance,
Baker and Cousins, NIM 221 (1984) 437) and the figures. Each drawing function takes its
axes and returns its artists (hist's convention); matplotlib is imported only to draw."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import yaml
from iminuit import Minuit
from iminuit.cost import UnbinnedNLL
from scipy import stats
from scipy.special import voigt_profile, xlogy

from mlhep import paths
from mlhep.plotting import BACKGROUND, SIGNAL, new_figure, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.container import ErrorbarContainer
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle, StepPatch
    from matplotlib.text import Text

#: The repository's static inputs (the library is installed editable from ``workflow/``).
RESOURCES_DIR = paths.RESOURCES


def pdg_z(path: str | Path = RESOURCES_DIR / "pdg_z.yaml") -> dict[str, tuple[float, float]]:
    """The Z boson's mass and full width in GeV as (value, uncertainty), from the PDG values
    in ``resources/pdg_z.yaml`` (its source and edition are noted there)."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: the PDG Z values are missing (the library reads the repository's "
            "resources/; install it editable from the checkout: pip install -e .)"
        ) from None
    return {key: (float(values[key][0]), float(values[key][1])) for key in ("mass", "width")}


#: Z boson mass and full width in GeV, (value, uncertainty): :func:`pdg_z`.
PDG_Z = pdg_z()
#: The fit's parameters in the order of the model's signature.
PARAMETERS = ("mass", "width", "sigma", "f_sig", "slope")
#: Fewest events in the window that the fit accepts.
MIN_EVENTS = 20
#: Gauss-Legendre nodes of the Voigt integrals (after the arctan substitution, relative
#: error below 1e-11 against adaptive quadrature over widths and resolutions 0.01-15 GeV).
NODES = 128
_LIMITS = {"width": (1e-3, 20.0), "sigma": (1e-3, 20.0), "f_sig": (0.0, 1.0), "slope": (-0.5, 0.5)}


@functools.cache
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (cached: computing them costs more than a
    whole integral)."""
    return np.polynomial.legendre.leggauss(n)


def voigt_integral(a: Any, b: Any, mass: float, width: float, sigma: float) -> np.ndarray:
    """Integral of the Voigt profile (Breit-Wigner of full width ``width`` at ``mass``
    convolved with a Gaussian of standard deviation ``sigma``) from ``a`` to ``b``.

    Gauss-Legendre in u = arctan((m - mass) / g), g = width / 2 + sigma, in which the
    Lorentzian tails are flat, so a fixed number of nodes is exact to ~1e-12 (vectorised
    over the bounds ``a``, ``b``)."""
    x, w = _legendre(NODES)
    g = 0.5 * width + sigma
    ua = np.arctan((np.asarray(a, float) - mass) / g)[..., None]
    ub = np.arctan((np.asarray(b, float) - mass) / g)[..., None]
    half = 0.5 * (ub - ua)
    u = half * x + 0.5 * (ub + ua)
    integrand = voigt_profile(g * np.tan(u), sigma, 0.5 * width) * g / np.cos(u) ** 2
    return np.sum(w * integrand, -1) * half[..., 0]


def signal_density(
    m: Any, mass: float, width: float, sigma: float, window: tuple[float, float]
) -> np.ndarray:
    """The Voigt profile normalised to 1 on ``window`` (its normalisation numerically,
    :func:`voigt_integral`)."""
    norm = voigt_integral(window[0], window[1], mass, width, sigma)
    return voigt_profile(np.asarray(m, float) - mass, sigma, 0.5 * width) / norm


def signal_integral(
    a: Any, b: Any, mass: float, width: float, sigma: float, window: tuple[float, float]
) -> np.ndarray:
    """Probability of [a, b] under :func:`signal_density` (bin contents, the CDF)."""
    norm = voigt_integral(window[0], window[1], mass, width, sigma)
    return voigt_integral(a, b, mass, width, sigma) / norm


def _exp_scale(slope: float, length: float) -> float:
    """(1 - exp(-slope * length)) / slope, the unnormalised exponential's integral over the
    window, with its limit ``length`` at slope 0."""
    if abs(slope * length) < 1e-12:
        return length
    return float(-np.expm1(-slope * length) / slope)


def background_density(m: Any, slope: float, window: tuple[float, float]) -> np.ndarray:
    """exp(-slope m) normalised to 1 on ``window`` (analytically; flat at slope 0)."""
    lo, hi = window
    return np.exp(-slope * (np.asarray(m, float) - lo)) / _exp_scale(slope, hi - lo)


def background_integral(a: Any, b: Any, slope: float, window: tuple[float, float]) -> np.ndarray:
    """Probability of [a, b] under :func:`background_density`."""
    lo, hi = window
    a, b = np.asarray(a, float) - lo, np.asarray(b, float) - lo
    if abs(slope * (hi - lo)) < 1e-12:
        return (b - a) / (hi - lo)
    return np.exp(-slope * a) * -np.expm1(-slope * (b - a)) / slope / _exp_scale(slope, hi - lo)


def density(m: Any, params: Mapping[str, float], window: tuple[float, float]) -> np.ndarray:
    """The model, f_sig * signal + (1 - f_sig) * background, normalised on ``window``."""
    p = params
    sig = signal_density(m, p["mass"], p["width"], p["sigma"], window)
    return p["f_sig"] * sig + (1 - p["f_sig"]) * background_density(m, p["slope"], window)


def probability(
    a: Any, b: Any, params: Mapping[str, float], window: tuple[float, float]
) -> np.ndarray:
    """Probability of [a, b] under :func:`density` (bin contents by integration)."""
    p = params
    sig = signal_integral(a, b, p["mass"], p["width"], p["sigma"], window)
    return p["f_sig"] * sig + (1 - p["f_sig"]) * background_integral(a, b, p["slope"], window)


def _log_model(window: tuple[float, float]) -> Any:
    """The model's log density with the parameters as named arguments (iminuit reads the
    signature), for ``UnbinnedNLL(..., log=True)``."""

    def log_pdf(
        m: np.ndarray, mass: float, width: float, sigma: float, f_sig: float, slope: float
    ) -> np.ndarray:
        params = {"mass": mass, "width": width, "sigma": sigma, "f_sig": f_sig, "slope": slope}
        with np.errstate(divide="ignore"):
            return np.log(density(m, params, window))

    return log_pdf


def in_window(mass: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The finite masses inside the closed ``window``."""
    mass = np.asarray(mass, float)
    return mass[np.isfinite(mass) & (mass >= window[0]) & (mass <= window[1])]


def start_values(mass: np.ndarray, window: tuple[float, float]) -> dict[str, float]:
    """Starting point: the peak at the mode of a 1 GeV histogram, the Z's width, a 1 GeV
    resolution, 80% signal over a flat background."""
    edges = np.arange(window[0], window[1] + 1.0, 1.0)
    counts = np.histogram(mass, edges)[0]
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    peak = float(0.5 * (edges[:-1] + edges[1:])[np.argmax(smooth)])
    return {"mass": peak, "width": PDG_Z["width"][0], "sigma": 1.0, "f_sig": 0.8, "slope": 0.0}


@dataclass(frozen=True)
class ZPeakFit:
    """Result of :func:`fit_z_peak`: values, HESSE errors and covariance, MINOS intervals
    (where run), the minimum of -ln L, the events used, the window and the fit's validity."""

    values: dict[str, float]
    errors: dict[str, float]
    covariance: list[list[float]]
    nll: float
    n_events: int
    window: tuple[float, float]
    valid: bool
    minos: dict[str, tuple[float, float]]

    def pdf(self, m: Any) -> np.ndarray:
        """The fitted density, normalised to 1 on the window."""
        return density(m, self.values, self.window)

    def cdf(self, m: Any) -> np.ndarray:
        """The fitted cumulative distribution from the window's low edge."""
        return probability(self.window[0], m, self.values, self.window)

    def expected(self, edges: np.ndarray, component: str = "total") -> np.ndarray:
        """Expected events per bin (the pdf integrated over each bin, times n_events) of the
        total, the ``signal`` or the ``background``."""
        p, lo, hi = self.values, edges[:-1], edges[1:]
        if component == "signal":
            sig = signal_integral(lo, hi, p["mass"], p["width"], p["sigma"], self.window)
            return self.n_events * p["f_sig"] * sig
        if component == "background":
            bkg = background_integral(lo, hi, p["slope"], self.window)
            return self.n_events * (1 - p["f_sig"]) * bkg
        return self.n_events * probability(lo, hi, p, self.window)

    def deviations(self) -> dict[str, float]:
        """(fit - PDG) / sqrt(err_fit^2 + err_PDG^2) of the mass and the width."""
        return {
            name: (self.values[name] - ref) / float(np.hypot(self.errors[name], err))
            for name, (ref, err) in PDG_Z.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON, with the PDG values and the deviations from them."""
        return {
            "values": dict(self.values),
            "errors": dict(self.errors),
            "minos": {k: list(v) for k, v in self.minos.items()},
            "covariance": self.covariance,
            "parameters": list(PARAMETERS),
            "nll": self.nll,
            "n_events": self.n_events,
            "window": list(self.window),
            "valid": self.valid,
            "pdg": {k: list(v) for k, v in PDG_Z.items()},
            "deviation_from_pdg": self.deviations(),
        }


def fit_z_peak(
    mass: np.ndarray,
    window: tuple[float, float] = (70.0, 110.0),
    *,
    minos: bool = True,
    start: Mapping[str, float] | None = None,
) -> ZPeakFit:
    """Unbinned maximum-likelihood fit (iminuit's UnbinnedNLL, MIGRAD then HESSE, and MINOS
    of mass, width and sigma with ``minos``) of the events of ``mass`` inside ``window``;
    ``start`` overrides :func:`start_values` (the toys start at their truth)."""
    window = (float(window[0]), float(window[1]))
    data = in_window(mass, window)
    if len(data) < MIN_EVENTS:
        raise ValueError(
            f"{len(data)} events in the window {window}; the Z fit needs at least {MIN_EVENTS}"
        )
    cost = UnbinnedNLL(data, _log_model(window), log=True)
    m = Minuit(cost, **{**start_values(data, window), **(start or {})})
    m.limits["mass"] = window
    for name, limits in _LIMITS.items():
        m.limits[name] = limits
    m.migrad()
    if not m.valid:
        m.migrad()  # a second descent from the first one's end often converges
    m.hesse()
    intervals: dict[str, tuple[float, float]] = {}
    if minos and m.valid:
        m.minos("mass", "width", "sigma")
        intervals = {
            k: (float(m.merrors[k].lower), float(m.merrors[k].upper))
            for k in ("mass", "width", "sigma")
        }
    return ZPeakFit(
        values={k: float(m.values[k]) for k in PARAMETERS},
        errors={k: float(m.errors[k]) for k in PARAMETERS},
        covariance=np.asarray(m.covariance, float).tolist(),
        nll=float(m.fval) / 2,  # UnbinnedNLL returns -2 ln L
        n_events=len(data),
        window=window,
        valid=bool(m.valid and m.accurate),
        minos=intervals,
    )


def sample_z_peak(
    params: Mapping[str, float], window: tuple[float, float], n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` masses drawn from the model on ``window``: the signal exactly as Breit-Wigner
    plus Gaussian smearing (a Voigt variate is their sum) kept inside the window, the
    background by inverting its CDF; the signal count is binomial(n, f_sig)."""
    lo, hi = window
    n_sig = int(rng.binomial(n, params["f_sig"]))
    signal = np.empty(0)
    while len(signal) < n_sig:
        size = 2 * (n_sig - len(signal)) + 100
        draw = (
            params["mass"]
            + 0.5 * params["width"] * rng.standard_cauchy(size)
            + params["sigma"] * rng.standard_normal(size)
        )
        signal = np.concatenate([signal, draw[(draw >= lo) & (draw <= hi)]])
    u, slope = rng.random(n - n_sig), params["slope"]
    if abs(slope * (hi - lo)) < 1e-12:
        background = lo + u * (hi - lo)
    else:
        background = lo - np.log1p(u * np.expm1(-slope * (hi - lo))) / slope
    return rng.permutation(np.concatenate([signal[:n_sig], background]))


def poisson_deviance(counts: np.ndarray, expected: np.ndarray) -> float:
    """Baker-Cousins likelihood ratio to the saturated model, 2 sum(mu - n + n ln(n/mu))
    (NIM 221 (1984) 437): chi-squared-like for large counts, exact for empty bins."""
    counts, expected = np.asarray(counts, float), np.asarray(expected, float)
    return float(2 * np.sum(expected - counts + xlogy(counts, counts / expected)))


def fit_deviance(mass: np.ndarray, fit: ZPeakFit, edges: np.ndarray) -> float:
    """Deviance of the window's histogram on ``edges`` against the fit's expectation."""
    return poisson_deviance(
        np.histogram(in_window(mass, fit.window), edges)[0], fit.expected(edges)
    )


@dataclass(frozen=True)
class GoodnessOfFit:
    """Result of :func:`goodness_of_fit`: the observed deviance, the toys' deviances and the
    p-value, the probability integral transform (PIT) of the events and its KS test."""

    deviance: float
    toy_deviances: np.ndarray
    p_value: float
    invalid_toys: int
    pit: np.ndarray
    ks_statistic: float
    ks_pvalue: float
    bins: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The numbers as plain JSON (the toys summarised)."""
        toys = self.toy_deviances
        return {
            "deviance": self.deviance,
            "p_value": self.p_value if len(toys) else None,  # strict JSON has no NaN
            "toys": len(self.toy_deviances),
            "invalid_toys": self.invalid_toys,
            "toy_deviance_mean": float(np.mean(toys)) if len(toys) else None,
            "toy_deviance_std": float(np.std(toys)) if len(toys) else None,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue_naive": self.ks_pvalue,
            "bins": self.bins,
            "seconds": self.seconds,
        }


def goodness_of_fit(
    mass: np.ndarray, fit: ZPeakFit, bins: int = 40, toys: int = 200, seed: int = 0
) -> GoodnessOfFit:
    """Binned Poisson deviance of the data against the fit, and its p-value by parametric
    bootstrap: each toy has n_events drawn from the fitted model and is refitted, so the
    p-value (fraction of toys with deviance >= observed) accounts for the fitted parameters.

    The toys keep n fixed at the observed count: the fit is not extended, so the count
    carries no information on the shape and the test is conditional on it. The KS test of
    the PIT (model CDF of each event, uniform if the model is right; scipy.stats.kstest)
    is also given, but its p-value ignores that the parameters were fitted to the same
    events (it is too large, hence the toys)."""
    start = time.perf_counter()
    edges = np.linspace(*fit.window, bins + 1)
    observed = fit_deviance(mass, fit, edges)
    rng = np.random.default_rng(seed)
    deviances, invalid = [], 0
    for _ in range(toys):
        toy = sample_z_peak(fit.values, fit.window, fit.n_events, rng)
        refit = fit_z_peak(toy, fit.window, minos=False, start=fit.values)
        invalid += not refit.valid
        deviances.append(fit_deviance(toy, refit, edges))
    toy_deviances = np.asarray(deviances)
    pit = np.clip(fit.cdf(in_window(mass, fit.window)), 0.0, 1.0)
    ks = stats.kstest(pit, "uniform")
    p_value = float(np.mean(toy_deviances >= observed)) if toys else float("nan")
    return GoodnessOfFit(
        observed,
        toy_deviances,
        p_value,
        invalid,
        pit,
        float(ks.statistic),
        float(ks.pvalue),
        bins,
        time.perf_counter() - start,
    )


def _poisson_interval(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper 68.3% Garwood (exact central Poisson) errors, nonzero for empty bins."""
    lower = np.where(counts > 0, stats.chi2.ppf(0.15865, 2 * counts) / 2, 0.0)
    upper = stats.chi2.ppf(0.84135, 2 * (counts + 1)) / 2
    return counts - lower, upper - counts


def _value(fit: ZPeakFit, name: str) -> str:
    """A fitted value with its MINOS interval where there is one, else its HESSE error."""
    value = fit.values[name]
    if name in fit.minos:
        lo, hi = fit.minos[name]
        return rf"{value:.2f}$^{{+{hi:.2f}}}_{{{lo:.2f}}}$"
    return rf"{value:.2f} $\pm$ {fit.errors[name]:.2f}"


def fit_text(fit: ZPeakFit) -> str:
    """The text box: M, Gamma, sigma with errors beside the PDG values, f_sig, n."""
    return "\n".join(
        [
            rf"$M$ = {_value(fit, 'mass')} GeV (PDG {PDG_Z['mass'][0]:.4f})",
            rf"$\Gamma$ = {_value(fit, 'width')} GeV (PDG {PDG_Z['width'][0]:.4f})",
            rf"$\sigma$ = {_value(fit, 'sigma')} GeV",
            rf"$f_\mathrm{{sig}}$ = {_value(fit, 'f_sig')}, $n$ = {fit.n_events}",
        ]
    )


class FitArtists(NamedTuple):
    """What :func:`draw_fit` drew: on the main axes the fitted components per bin, the
    density curve, the data, the text box and the legend; on the pull axes the 1 and 2
    sigma bands, the zero line and the pulls."""

    background: StepPatch
    signal: StepPatch
    total: StepPatch
    density: Line2D
    data: ErrorbarContainer
    text: Text
    legend: Legend
    bands: tuple[Rectangle, Rectangle]
    zero: Line2D
    pulls: Line2D


@styled
def draw_fit(
    ax_main: Axes, ax_pull: Axes, mass: np.ndarray, fit: ZPeakFit, bins: int = 40
) -> FitArtists:
    """Data with Poisson (Garwood) errors, the fitted total, signal and background as
    events per bin (integrated over each bin) and the total's density curve, a text box of
    the values, and below the pulls (data - expected) / sqrt(expected) with 1 and 2 bands."""
    edges = np.linspace(*fit.window, bins + 1)
    centres, width = 0.5 * (edges[:-1] + edges[1:]), edges[1] - edges[0]
    counts = np.histogram(in_window(mass, fit.window), edges)[0].astype(float)
    expected = fit.expected(edges)
    grid = np.linspace(*fit.window, 800)
    background = ax_main.stairs(
        fit.expected(edges, "background"),
        edges,
        color=BACKGROUND,
        lw=1.5,
        ls="--",
        label="background",
    )
    signal = ax_main.stairs(
        fit.expected(edges, "signal"), edges, color=SIGNAL, lw=1.5, ls=":", label="signal (Voigt)"
    )
    total = ax_main.stairs(expected, edges, color="k", lw=1.8, label="fit (per bin)")
    (curve,) = ax_main.plot(
        grid,
        fit.n_events * width * fit.pdf(grid),
        color="0.5",
        lw=1,
        label="fit (density x bin width)",
    )
    data = ax_main.errorbar(
        centres, counts, yerr=_poisson_interval(counts), fmt="o", color="k", ms=4, label="data"
    )
    text = ax_main.text(
        0.03,
        0.96,
        fit_text(fit),
        transform=ax_main.transAxes,
        va="top",
        fontsize=11,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.7"},
    )
    ax_main.set(ylabel=f"Events / {width:g} GeV", xlim=fit.window)
    ax_main.set_ylim(0, 1.45 * max(counts.max(), expected.max()))
    legend = ax_main.legend(loc="upper right", fontsize=11)
    pulls = (counts - expected) / np.sqrt(expected)
    bands = (
        ax_pull.axhspan(-2, 2, color="#ffcc00", alpha=0.35, lw=0),
        ax_pull.axhspan(-1, 1, color="#22aa22", alpha=0.35, lw=0),
    )
    zero = ax_pull.axhline(0, color="k", lw=1)
    (points,) = ax_pull.plot(centres, pulls, "o", color="k", ms=4)
    top = max(3.0, float(np.abs(pulls).max()) * 1.15)
    ax_pull.set(xlabel=r"$m_{\mu\mu}$ (GeV)", ylabel="Pull", ylim=(-top, top), xlim=fit.window)
    return FitArtists(background, signal, total, curve, data, text, legend, bands, zero, points)


class GofArtists(NamedTuple):
    """What :func:`draw_gof` drew: the toys' histogram (empty without toys), the observed
    deviance's line and the legend; with the PIT axes, its histogram and the flat band."""

    toys: list[Any]
    observed: Line2D
    legend: Legend
    pit: list[Any]
    flat: Rectangle | None


@styled
def draw_gof(ax: Axes, gof: GoodnessOfFit, ax_pit: Axes | None = None) -> GofArtists:
    """The toys' deviances with the observed one and the p-value; with ``ax_pit``, the PIT
    histogram (flat if the model is right) and the KS statistic."""
    toys: list[Any] = []
    if len(gof.toy_deviances):
        top = max(gof.toy_deviances.max(), gof.deviance) * 1.05
        toys = list(
            ax.hist(
                gof.toy_deviances,
                np.linspace(0, top, 31),
                histtype="stepfilled",
                color=SIGNAL,
                alpha=0.5,
                label=f"{len(gof.toy_deviances)} toys, refitted",
            )[2]
        )
    observed = ax.axvline(
        gof.deviance,
        color=BACKGROUND,
        lw=2,
        label=f"data: D = {gof.deviance:.1f}, p = {gof.p_value:.3g}",
    )
    ax.set(xlabel=f"Poisson deviance ({gof.bins} bins)", ylabel="Toys")
    legend = ax.legend(loc="upper right", fontsize=11)
    pit: list[Any] = []
    flat_band = None
    if ax_pit is not None:
        edges = np.linspace(0, 1, 21)
        flat = len(gof.pit) / (len(edges) - 1)
        pit = list(
            ax_pit.hist(
                gof.pit,
                edges,
                histtype="step",
                color="k",
                lw=1.8,
                label=f"KS D = {gof.ks_statistic:.3f} (naive p = {gof.ks_pvalue:.2g})",
            )[2]
        )
        flat_band = ax_pit.axhspan(
            flat - np.sqrt(flat),
            flat + np.sqrt(flat),
            color="0.8",
            zorder=0,
            label=r"flat $\pm 1\sigma$",
        )
        ax_pit.set(xlabel="Model CDF of each event (PIT)", ylabel="Events", xlim=(0, 1))
        ax_pit.set_ylim(0, ax_pit.get_ylim()[1] * 1.3)
        ax_pit.legend(loc="upper right", fontsize=11)
    return GofArtists(toys, observed, legend, pit, flat_band)


@styled
def z_peak_figures(
    mass: np.ndarray, fit: ZPeakFit, gof: GoodnessOfFit, bins: int = 40
) -> tuple[Figure, Figure]:
    """The fit with its pulls, and the goodness of fit (toys and PIT); write them with
    :func:`mlhep.plotting.save_figure`."""
    fig_fit, (ax_main, ax_pull) = new_figure(
        2, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
    )
    draw_fit(ax_main, ax_pull, mass, fit, bins)
    fig_gof, (ax, ax_pit) = new_figure(1, 2, figsize=(15, 6), layout="tight")
    draw_gof(ax, gof, ax_pit)
    return fig_fit, fig_gof
