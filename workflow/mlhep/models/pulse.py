"""Classical estimators of a pulse's amplitude A and arrival time t0, which know the shape,
the sampling and the noise of the readout (its dataset's settings) and learn nothing:

- the peak sample: A = the largest sample, t0 = its time less the peaking time;
- the optimal filter of Cleland and Stern (NIM A338 (1994) 467), as in the ATLAS liquid-
  argon calorimeter: weights a, b with a.g = 1, a.h = 0, b.g = 0, b.h = -1 and least noise,
  so that A = a.s and A tau = b.s for a pulse shifted by tau from the phase the weights are
  built at; ``optimal_filter_fixed`` builds them at one reference phase, ``optimal_filter``
  re-centres them on its own phase estimate a few times;
- the least-squares template fit (the maximum-likelihood estimate in Gaussian noise): A is
  profiled analytically, t0 found on a grid and refined by Gauss-Newton steps;
  ``template_fit_pileup`` also fits a second pulse at each pile-up crossing of the dataset
  and keeps it where the chi-square improves significantly.

Each is a scikit-learn estimator (``predict`` gives A, t0 and their uncertainties, the
Cramer-Rao values at the estimate), saved with joblib and logged in the sklearn flavour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd
from scipy.stats import chi2
from sklearn.base import BaseEstimator, RegressorMixin

from mlhep.data.pulse.readout import Readout
from mlhep.models.base import FitContext, Fitted, Trainer, features_of, regression_frame

#: Pulses processed at once by the grid searches (bounded memory).
CHUNK = 20_000


class PulseEstimator(RegressorMixin, BaseEstimator):
    """An estimator that knows the readout (``readout``: the dataset's settings) and the
    range of arrival times (``t0_range``); ``fit`` learns nothing."""

    def __init__(
        self, readout: Mapping[str, Any] | None = None, t0_range: Sequence[float] = (0.0, 25.0)
    ) -> None:
        self.readout = readout
        self.t0_range = t0_range

    @cached_property
    def readout_(self) -> Readout:
        """The :class:`Readout` of the settings (built once: the fits use it per chunk)."""
        return Readout.from_settings(self.readout or {})

    def fit(self, x: Any, y: Any = None) -> PulseEstimator:
        """Nothing to learn: the shape and the noise are known."""
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def uncertainties(self, amplitude: np.ndarray, t0: np.ndarray) -> np.ndarray:
        """The Cramer-Rao sigma_A and sigma_t0 at the estimates (what the fit's covariance
        gives)."""
        from mlhep.data.pulse.bound import cramer_rao

        with np.errstate(divide="ignore", invalid="ignore"):
            return np.column_stack(cramer_rao(amplitude, t0, self.readout_))


class PeakSample(PulseEstimator):
    """The largest sample and its time less the peaking time (no uncertainty); with a
    pedestal, the largest sample above the first (taken before the pulse arrives)."""

    def predict(self, x: Any) -> np.ndarray:
        """A, t0, NaN, NaN per pulse."""
        x = np.asarray(x, dtype=float)
        readout = self.readout_
        k = x.argmax(axis=1)
        peak = x[np.arange(len(x)), k] - (x[:, 0] if readout.pedestal else 0.0)
        nan = np.full(len(x), np.nan)
        return np.column_stack([peak, readout.times[k] - readout.peaking_time, nan, nan])


def phase_grid(t0_range: Sequence[float], margin: float, step: float) -> np.ndarray:
    """Phases every ``step`` ns over ``t0_range`` widened by ``margin`` on both sides."""
    lo, hi = t0_range
    return np.arange(lo - margin, hi + margin + 0.5 * step, step)


def filter_weights(readout: Readout, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The optimal-filter weights a and b (``(len(phase), n)`` each) built at each phase:
    the least-noise weights with a.g = 1, a.h = 0, b.g = 0, b.h = -1 and, with a pedestal,
    a.1 = b.1 = 0 (w = R^-1 M (M'R^-1 M)^-1 e for the constraint matrix M = [g, h(, 1)])."""
    g, h = readout.template(phase), readout.slope(phase)
    columns = [g, h, np.ones_like(g)] if readout.pedestal else [g, h]
    constraints = np.stack(columns, axis=-1)  # (phases, n, k)
    pm = np.einsum("nm,gmk->gnk", readout.precision, constraints)
    gram = np.einsum("gnk,gnl->gkl", constraints, pm)
    targets = np.zeros((len(columns), 2))  # columns: what a and b give on g, h (and 1)
    targets[0, 0], targets[1, 1] = 1.0, -1.0
    coefficients = np.linalg.solve(gram, np.broadcast_to(targets, (len(gram), *targets.shape)))
    weights = np.einsum("gnk,gkj->gjn", pm, coefficients)
    return weights[:, 0], weights[:, 1]


class OptimalFilter(PulseEstimator):
    """Cleland and Stern's optimal filter, built at ``reference_phase`` (the middle of the
    arrival-time range by default) and re-centred ``iterations`` times on its own phase
    estimate (weights tabulated every ``step`` ns; the phase clamped to the range widened by
    ``margin`` ns, which keeps low-amplitude pulses from running away)."""

    def __init__(
        self,
        readout: Mapping[str, Any] | None = None,
        t0_range: Sequence[float] = (0.0, 25.0),
        iterations: int = 3,
        reference_phase: float | None = None,
        step: float = 0.1,
        margin: float = 5.0,
    ) -> None:
        super().__init__(readout, t0_range)
        self.iterations = iterations
        self.reference_phase = reference_phase
        self.step = step
        self.margin = margin

    def grid(self) -> np.ndarray:
        """The phases the weights are tabulated at."""
        return phase_grid(self.t0_range, self.margin, self.step)

    def predict(self, x: Any) -> np.ndarray:
        """A, t0 and their Cramer-Rao uncertainties at the final phase."""
        x = np.asarray(x, dtype=float)
        grid = self.grid()
        a, b = filter_weights(self.readout_, grid)
        reference = self.reference_phase
        if reference is None:
            reference = 0.5 * (self.t0_range[0] + self.t0_range[1])
        index = np.full(len(x), np.abs(grid - reference).argmin())
        for iteration in range(self.iterations + 1):
            amplitude = np.einsum("ij,ij->i", x, a[index])
            with np.errstate(divide="ignore", invalid="ignore"):
                shift = np.einsum("ij,ij->i", x, b[index]) / amplitude
            t0 = np.clip(grid[index] + np.nan_to_num(shift), grid[0], grid[-1])
            if iteration < self.iterations:
                index = np.rint((t0 - grid[0]) / self.step).astype(int)
        return np.column_stack([amplitude, t0, self.uncertainties(amplitude, t0)])


def _parabola_vertex(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Offset (in grid steps, within +-0.5) of the vertex of the parabola through each row's
    maximum at ``index`` and its neighbours (0 at the edges)."""
    if values.shape[1] < 3:  # a grid of one or two points: nothing to interpolate
        return np.zeros(len(values))
    rows = np.arange(len(values))
    inner = (index > 0) & (index < values.shape[1] - 1)
    i = np.clip(index, 1, values.shape[1] - 2)
    left, mid, right = values[rows, i - 1], values[rows, i], values[rows, i + 1]
    curvature = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return np.where(inner, np.clip(offset, -0.5, 0.5), 0.0)


class TemplateFit(PulseEstimator):
    """Least-squares fit of the known shape, chi2 = (s - m)' R^-1 (s - m): every amplitude
    is profiled (linear), t0 found on a grid of ``step`` ns over the arrival-time range
    widened by ``margin`` ns, refined by a parabola and ``polish`` Gauss-Newton steps on
    all parameters together.

    ``pileup_crossings`` (offsets in clock periods): also fit a second pulse at each, and
    keep the best where the chi-square falls by more than the ``1 - p_value`` quantile of
    a chi-square with one degree of freedom (Bonferroni over the crossings); ``p_value``
    None: chosen on validation by :class:`PulseTrainer` (:func:`choose_threshold`)."""

    def __init__(
        self,
        readout: Mapping[str, Any] | None = None,
        t0_range: Sequence[float] = (0.0, 25.0),
        step: float = 0.25,
        margin: float = 5.0,
        polish: int = 3,
        pileup_crossings: Sequence[int] = (),
        p_value: float | None = 0.001,
    ) -> None:
        super().__init__(readout, t0_range)
        self.step = step
        self.margin = margin
        self.polish = polish
        self.pileup_crossings = pileup_crossings
        self.p_value = p_value

    def grid(self, pileup: bool = False) -> np.ndarray:
        """The arrival times scanned. With a pile-up pulse the margin shrinks (to none) so
        that the range spans at most one clock period where ``t0_range`` does: a pair of
        pulses one period apart fits equally well with either as the in-time one, and the
        range is what tells them apart."""
        margin = self.margin
        if pileup:
            span = self.t0_range[1] - self.t0_range[0]
            margin = min(margin, max(0.0, 0.5 * (self.readout_.clock_period - span)))
        return phase_grid(self.t0_range, margin, self.step)

    def _designs(self, t0: np.ndarray, offset: float | np.ndarray | None) -> np.ndarray:
        """Unit pulses at ``t0`` (and at ``t0 + offset``), and a column of ones where the
        readout has a pedestal: ``(len(t0), n, k)``, the pedestal last."""
        readout = self.readout_
        columns = [readout.template(t0)]
        if offset is not None:
            columns.append(readout.template(t0 + offset))
        if readout.pedestal:
            columns.append(np.ones_like(columns[0]))
        return np.stack(columns, axis=-1)

    def _profile(self, x: np.ndarray, designs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pulse and grid point: the fitted amplitudes and the chi-square reduction
        s'PM (M'PM)^-1 M'Ps (the larger, the better the fit)."""
        p = self.readout_.precision
        mp = np.einsum("gnk,nm->gkm", designs, p)  # (grid, k, n)
        # pinv: a pile-up column can vanish at some grid points (its pulse outside the samples)
        gram_inverse = np.linalg.pinv(np.einsum("gkn,gnl->gkl", mp, designs), hermitian=True)
        u = np.einsum("cn,gkn->cgk", x, mp)
        amplitudes = np.einsum("gkl,cgl->cgk", gram_inverse, u)
        return amplitudes, np.einsum("cgk,cgk->cg", u, amplitudes)

    def _fit(
        self, x: np.ndarray, offset: float | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Amplitudes (``(n, 1 or 2)``), t0 and chi-square reduction of each pulse."""
        grid = self.grid(pileup=offset is not None)
        _, gain = self._profile(x, self._designs(grid, offset))
        best = gain.argmax(axis=1)
        t0 = grid[best] + _parabola_vertex(gain, best) * self.step
        designs = self._designs(t0, offset)  # (c, n, k): the amplitudes at the refined t0
        p = self.readout_.precision
        mp = np.einsum("cnk,nm->ckm", designs, p)
        gram = np.einsum("ckn,cnl->ckl", mp, designs)
        u = np.einsum("ckn,cn->ck", mp, x)
        amplitudes = np.einsum("ckl,cl->ck", np.linalg.pinv(gram, hermitian=True), u)
        return amplitudes, t0, np.einsum("ck,ck->c", u, amplitudes)

    def _polish(
        self, x: np.ndarray, amplitudes: np.ndarray, t0: np.ndarray, offset: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Newton steps on the amplitudes and t0 together (``amplitudes``: ``(c, 1)``,
        or ``(c, 2)`` with a pile-up pulse at ``t0 + offset``, then the pedestal where there
        is one); returns A and t0."""
        readout, p = self.readout_, self.readout_.precision
        lo, hi = self.grid(pileup=offset is not None)[[0, -1]]
        amplitudes = amplitudes.copy()
        for _ in range(self.polish):
            design = self._designs(t0, offset)  # (c, n, k)
            slope = amplitudes[:, :1] * readout.slope(t0)
            if offset is not None:
                slope = slope + amplitudes[:, 1:2] * readout.slope(t0 + offset)
            residual = x - np.einsum("cnk,ck->cn", design, amplitudes)
            jacobian = np.concatenate([design, -slope[..., None]], axis=-1)  # (c, n, k + 1)
            jp = np.einsum("cnk,nm->ckm", jacobian, p)
            normal = np.einsum("ckn,cnl->ckl", jp, jacobian)
            gradient = np.einsum("ckn,cn->ck", jp, residual)
            ok = np.linalg.det(normal) > 0
            step = np.zeros_like(gradient)
            step[ok] = np.linalg.solve(normal[ok], gradient[ok][..., None])[..., 0]
            amplitudes = amplitudes + step[:, :-1]
            t0 = np.clip(t0 + step[:, -1], lo, hi)
        return amplitudes[:, 0], t0

    def predict(self, x: Any) -> np.ndarray:
        """A, t0 and their Cramer-Rao uncertainties at the estimate."""
        candidates = self.candidates(x)
        keep = False  # without pile-up crossings there is nothing to keep
        if self.pileup_crossings:
            keep = candidates.improvement > self.threshold(self.p_value)
        amplitude, t0 = candidates.select(keep)
        return np.column_stack([amplitude, t0, self.uncertainties(amplitude, t0)])

    def threshold(self, p_value: float) -> float:
        """The chi-square improvement above which a pile-up pulse is kept at ``p_value``
        (one degree of freedom, Bonferroni over the crossings)."""
        return float(chi2.isf(p_value / max(len(self.pileup_crossings), 1), df=1))

    def candidates(self, x: Any) -> FitCandidates:
        """Both fits of every pulse: alone, and with its best pile-up pulse (the same as
        alone without pile-up crossings), and the chi-square improvement between them."""
        x = np.asarray(x, dtype=float)
        parts = [self._candidates_chunk(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)]
        if not parts:
            empty = np.empty(0)
            return FitCandidates(empty, empty, empty, empty, empty)
        return FitCandidates(*(np.concatenate(column) for column in zip(*parts, strict=True)))

    def _candidates_chunk(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        amplitudes, t0, gain = self._fit(x, None)
        amplitude, t0 = self._polish(x, amplitudes, t0, None)
        pileup_amplitude, pileup_t0 = amplitude.copy(), t0.copy()
        improvement = np.full(len(x), -np.inf)
        if len(self.pileup_crossings):
            period = self.readout_.clock_period
            fits = [self._fit(x, c * period) for c in self.pileup_crossings]
            gains = np.stack([f[2] for f in fits], axis=1)
            which = gains.argmax(axis=1)
            improvement = gains[np.arange(len(x)), which] - gain
            for k, (pu_amplitudes, pu_t0, _) in enumerate(fits):
                rows = which == k
                if rows.any():
                    offset = np.full(rows.sum(), self.pileup_crossings[k] * period)
                    pileup_amplitude[rows], pileup_t0[rows] = self._polish(
                        x[rows], pu_amplitudes[rows], pu_t0[rows], offset
                    )
        return amplitude, t0, pileup_amplitude, pileup_t0, improvement

    def threshold_scan(
        self,
        x: Any,
        truth: pd.DataFrame,
        p_values: Sequence[float],
    ) -> pd.DataFrame:
        """The trade-off of the pile-up threshold on labelled pulses (``truth``: columns
        ``amplitude``, ``t0``, ``pileup``): per p-value, the fraction of clean pulses given a
        pile-up pulse (false detections), of piled-up pulses not given one (missed), the RMS
        over the Cramer-Rao bound of A and t0, and ``total``, the mean of the two squared
        ratios (what the choice minimises)."""
        from mlhep.data.pulse.bound import cramer_rao

        candidates = self.candidates(x)
        a, t0 = truth["amplitude"].to_numpy(), truth["t0"].to_numpy()
        piled = truth["pileup"].to_numpy().astype(bool)
        bound_a, bound_t0 = cramer_rao(a, t0, self.readout_)
        rows = []
        for p_value in p_values:
            keep = candidates.improvement > self.threshold(p_value)
            amplitude, time = candidates.select(keep)
            ratio_a, ratio_t0 = (amplitude - a) / bound_a, (time - t0) / bound_t0
            ms_a, ms_t0 = float(np.mean(ratio_a**2)), float(np.mean(ratio_t0**2))
            rows.append(
                {
                    "p_value": float(p_value),
                    "threshold": self.threshold(p_value),
                    "false_detections": float(keep[~piled].mean()) if (~piled).any() else np.nan,
                    "missed_pileup": float((~keep[piled]).mean()) if piled.any() else np.nan,
                    "amplitude_rms_ratio": np.sqrt(ms_a),
                    "t0_rms_ratio": np.sqrt(ms_t0),
                    "total": 0.5 * (ms_a + ms_t0),
                }
            )
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class FitCandidates:
    """The template fit of each pulse alone (``amplitude``, ``t0``) and with its best
    pile-up pulse (``pileup_*``), and the chi-square improvement of the latter."""

    amplitude: np.ndarray
    t0: np.ndarray
    pileup_amplitude: np.ndarray
    pileup_t0: np.ndarray
    improvement: np.ndarray

    def select(self, keep: np.ndarray | bool) -> tuple[np.ndarray, np.ndarray]:
        """A and t0 of each pulse: with its pile-up pulse where ``keep``, else alone."""
        return (
            np.where(keep, self.pileup_amplitude, self.amplitude),
            np.where(keep, self.pileup_t0, self.t0),
        )


class PulseTrainer(Trainer):
    """A classical estimator built from the dataset's readout and the model's settings."""

    artifact: ClassVar[str] = "model.joblib"
    loss: ClassVar[str] = "squared_error"

    def __init__(
        self,
        estimator: type[PulseEstimator],
        pileup_aware: bool = False,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self.estimator = estimator
        self.pileup_aware = pileup_aware
        self.fixed = dict(fixed or {})

    def build(self, settings: Mapping[str, Any], physics: Mapping[str, Any]) -> PulseEstimator:
        """The estimator for a dataset's readout (``physics``) and the model's settings."""
        keys = set(self.estimator().get_params()) - {"readout", "t0_range", "pileup_crossings"}
        extra = {**{k: settings[k] for k in keys if k in settings}, **self.fixed}
        if self.pileup_aware:
            extra["pileup_crossings"] = tuple(physics.get("pileup_crossings", ()))
        readout = {k: v for k, v in physics.items() if k in Readout.__dataclass_fields__}
        readout["pedestal"] = Readout.from_settings(physics).pedestal
        return self.estimator(
            readout=readout, t0_range=tuple(physics.get("t0_range", (0.0, 25.0))), **extra
        )

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Build the estimator (nothing is learned from the splits)."""
        if not context.physics:
            raise ValueError(f"{self.estimator.__name__} needs the dataset's readout settings")
        estimator = self.build(settings, context.physics)
        estimator.fit(features_of(splits["train"].head(1), columns))
        info: dict[str, Any] = {}
        if isinstance(estimator, TemplateFit) and estimator.p_value is None:
            estimator, info = choose_threshold(
                estimator, splits["validation"], columns, settings.get("p_value_grid", P_VALUES)
            )
        return Fitted(estimator, info=info)

    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """A, t0 and their uncertainties of every pulse."""
        return regression_frame(frame.index, fitted.model.predict(features_of(frame, columns)))

    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """Pickle the estimator with joblib."""
        joblib.dump(fitted.model, path)

    def load_model(self, path: str | os.PathLike[str], record: Mapping[str, Any]) -> Any:
        """The pickled estimator."""
        return joblib.load(path)

    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """The sklearn flavour; its pyfunc predicts A, t0 and their uncertainties."""
        from mlhep.tracking.models import log_sklearn

        return log_sklearn(fitted.model, example, probabilistic=False)


#: The p-values the pile-up threshold is chosen among on validation (``p_value: null``).
P_VALUES = (0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10)


def choose_threshold(
    estimator: TemplateFit,
    validation: pd.DataFrame,
    columns: Sequence[str],
    p_values: Sequence[float],
) -> tuple[TemplateFit, dict[str, Any]]:
    """The estimator with the p-value (of ``p_values``) whose threshold gives the least
    total RMS over the bound on the validation pulses, and the record of the scan (the
    test split is not read). Without pile-up crossings there is nothing to choose."""
    if not estimator.pileup_crossings:
        return estimator.set_params(p_value=float(max(p_values))), {}
    scan = estimator.threshold_scan(features_of(validation, columns), validation, p_values)
    best = scan.loc[scan["total"].idxmin()]
    estimator.set_params(p_value=float(best["p_value"]))
    return estimator, {
        "p_value_chosen": float(best["p_value"]),
        "threshold_scan": scan.to_dict(orient="list"),
    }


#: The trainers of this family by model name.
TRAINERS: dict[str, Trainer] = {
    "peak_sample": PulseTrainer(PeakSample),
    "optimal_filter_fixed": PulseTrainer(OptimalFilter, fixed={"iterations": 0}),
    "optimal_filter": PulseTrainer(OptimalFilter),
    "template_fit": PulseTrainer(TemplateFit),
    "template_fit_pileup": PulseTrainer(TemplateFit, pileup_aware=True),
}
