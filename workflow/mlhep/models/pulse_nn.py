"""Neural regressors of a pulse's amplitude and arrival time, with their uncertainty: an MLP
(``pulse_mlp``) and a small 1-D CNN (``pulse_cnn``) over the samples.

The samples are divided by the largest one (clamped at the noise level) and that scale's
logarithm is appended, so that the network sees the shape apart from the size (one network
for A/sigma from 2 to 200). For A / scale and for the standardised t0 it predicts a mixture
of ``components`` Gaussians (weights, means, log standard deviations: a mixture density
network, C. M. Bishop, Mixture density networks, Aston University NCRG/94/004, 1994); the
loss is the sum of the two marginals' negative log-likelihoods. One component is the
Gaussian heteroscedastic head (D. A. Nix and A. S. Weigend, ICNN 1994; A. Kendall and
Y. Gal, NeurIPS 2017); more describe a narrow core plus the tails pile-up gives, which one
Gaussian cannot (its pulls are then too wide in the tails and too narrow in the core). The
saved network takes raw samples and gives A, t0 (the mixtures' means) and sigma_A,
sigma_t0 (their standard deviations) in physical units; :func:`intervals` gives the
mixtures' central 68% and 95% intervals, whose coverage the evaluation checks.

The intervals are recalibrated on the validation split (``calibration_cells``) so that
they hold their nominal coverage in every cell of the true amplitude (equal counts), as
confidence intervals should, not only on average (:mod:`mlhep.models.interval_calibration`):
the amplitude's by a confidence belt ordered by the mixture's CDF at the truth (its PIT),
with the PIT's quantiles per cell of the true amplitude; t0's by levels per cell of the
predicted amplitude, solved so that every cell of the true amplitude is nominal.

Training: AdamW with a cosine schedule, early stopping on the validation loss with the
best weights kept (the loop of :mod:`mlhep.models.torch_loop`); on CPU bit-identical for a
fixed seed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from mlhep.models import interval_calibration as calibration
from mlhep.models.base import FitContext, Fitted, Trainer, regression_frame
from mlhep.models.torch_loop import Stopping, TorchLoop

log = logging.getLogger(__name__)

#: Bounds on the predicted log standard deviation (relative units), for a stable loss.
LOG_SIGMA_RANGE = (-9.0, 4.0)


class PulseNet(nn.Module):
    """Scale by the largest sample, a body (``mlp`` or ``cnn``), a mixture of
    ``components`` Gaussians for each of A and t0, and four outputs in physical units: A,
    t0, sigma_A, sigma_t0 (each mixture's mean and standard deviation). The buffers
    recalibrate the intervals (:func:`calibrate`; as built, the identity):
    ``calibration_levels`` (per target and cell, the levels at
    :data:`interval_calibration.GRID`), for A per cell of the true A, whose log centres are
    ``calibration_centres``, for t0 per cell of the predicted A, whose log edges are
    ``calibration_edges``."""

    def __init__(
        self,
        n_samples: int,
        body: str,
        width: int = 64,
        layers: int = 3,
        channels: int = 16,
        components: int = 1,
        calibration_cells: int = 0,
    ) -> None:
        super().__init__()
        self.body = body
        self.components = components
        cells = max(calibration_cells, 1)
        self.register_buffer(
            "calibration_edges", torch.full((cells - 1,), math.inf, dtype=torch.float64)
        )
        self.register_buffer("calibration_centres", torch.arange(cells, dtype=torch.float64))
        identity = torch.as_tensor(calibration.GRID, dtype=torch.float64)
        self.register_buffer("calibration_levels", identity.repeat(2, cells, 1))
        self._register_load_state_dict_pre_hook(self._without_calibration)
        outputs = 2 * 3 * components  # per target: weights, means, log sigmas
        self.register_buffer("floor", torch.tensor(1.0))
        self.register_buffer("t0_mean", torch.tensor(0.0))
        self.register_buffer("t0_scale", torch.tensor(1.0))
        if body == "mlp":
            blocks: list[nn.Module] = []
            size = n_samples + 1
            for _ in range(layers):
                blocks += [nn.Linear(size, width), nn.SiLU()]
                size = width
            self.conv = None
            self.head = nn.Sequential(*blocks, nn.Linear(size, outputs))
        elif body == "cnn":
            self.conv = nn.Sequential(
                nn.Conv1d(1, channels, 3, padding=1),
                nn.SiLU(),
                nn.Conv1d(channels, channels, 3, padding=1),
                nn.SiLU(),
            )
            blocks = [nn.Linear(channels * n_samples + 1, width), nn.SiLU()]
            for _ in range(layers - 1):
                blocks += [nn.Linear(width, width), nn.SiLU()]
            self.head = nn.Sequential(*blocks, nn.Linear(width, outputs))
        else:
            raise ValueError(f"unknown body {body!r} (mlp or cnn)")

    def _without_calibration(self, state: dict[str, torch.Tensor], prefix: str, *_: Any) -> None:
        """Load a network saved before its intervals were recalibrated (no calibration
        buffers) with the identity calibration: its mixtures' own intervals. One saved when
        A's levels were per cell of the predicted A (no ``calibration_centres``) keeps its
        t0 levels and the identity for A, which those levels do not fit."""
        levels = prefix + "calibration_levels"
        saved = state.get(levels)
        if (
            saved is not None
            and prefix + "calibration_centres" not in state
            and saved.shape == self.calibration_levels.shape  # else load_state_dict says so
        ):
            identity = self.calibration_levels[0]
            if not torch.equal(saved[0], identity):
                log.warning("a network calibrated per predicted A: A's intervals uncalibrated")
            state[levels] = torch.cat([identity[None], saved[1:]])
        for name in ("calibration_edges", "calibration_centres", "calibration_levels"):
            state.setdefault(prefix + name, getattr(self, name).clone())

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale of each pulse and the network's outputs in relative units."""
        scale = x.amax(dim=1).clamp_min(self.floor)
        shape = x / scale[:, None]
        log_scale = torch.log(scale)[:, None]
        if self.conv is not None:
            shape = self.conv(shape[:, None, :]).flatten(1)
        return scale, self.head(torch.cat([shape, log_scale], dim=1))

    def mixtures(self, out: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """For A / scale and the standardised t0: the mixtures' log weights, means and log
        standard deviations (``(n, components)`` each) in relative units."""
        k = self.components
        parts = []
        for target in range(2):
            block = out[:, 3 * k * target : 3 * k * (target + 1)]
            log_weights = torch.log_softmax(block[:, :k], dim=1)
            parts.append(
                (log_weights, block[:, k : 2 * k], block[:, 2 * k :].clamp(*LOG_SIGMA_RANGE))
            )
        return parts

    def physical_mixtures(
        self, x: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The mixtures of A and t0 in physical units: weights, means, standard deviations."""
        scale, out = self.raw(x)
        (wa, ma, sa), (wt, mt, st) = self.mixtures(out)
        unit = scale[:, None]
        return [
            (wa.exp(), unit * ma, unit * sa.exp()),
            (wt.exp(), self.t0_mean + self.t0_scale * mt, self.t0_scale * st.exp()),
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A, t0, sigma_A, sigma_t0 of each pulse (raw samples in): each mixture's mean and
        standard deviation."""
        moments = []
        for weights, means, sigmas in self.physical_mixtures(x):
            mean = (weights * means).sum(dim=1)
            second = (weights * (sigmas**2 + means**2)).sum(dim=1)
            moments.append((mean, torch.sqrt((second - mean**2).clamp_min(0.0))))
        (a, sigma_a), (t0, sigma_t0) = moments
        return torch.stack([a, t0, sigma_a, sigma_t0], dim=1)


def mixture_nll(net: PulseNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the targets (A, t0) under the network's two
    mixtures, in its relative units (A / scale, standardised t0), constant dropped; with
    one component the Gaussian negative log-likelihood."""
    scale, out = net.raw(x)
    targets = (y[:, 0] / scale, (y[:, 1] - net.t0_mean) / net.t0_scale)
    total = torch.zeros((), device=x.device)
    for target, (log_weights, means, log_sigmas) in zip(targets, net.mixtures(out), strict=True):
        pull = (target[:, None] - means) * torch.exp(-log_sigmas)
        log_density = log_weights - 0.5 * pull**2 - log_sigmas
        total = total - torch.logsumexp(log_density, dim=1).mean()
    return total


def build(n_samples: int, body: str, settings: Mapping[str, Any]) -> PulseNet:
    """The network of a model's config section."""
    return PulseNet(
        n_samples,
        body,
        settings["width"],
        settings["layers"],
        settings.get("channels", 16),
        settings.get("components", 1),
        settings.get("calibration_cells", 0),  # absent (a direct call): no calibration
    )


@torch.no_grad()
def predict(net: PulseNet, x: np.ndarray, batch: int = 65536) -> np.ndarray:
    """A, t0, sigma_A, sigma_t0 of every pulse, batched, in evaluation mode."""
    net.eval()
    device = next(net.parameters()).device
    values = torch.as_tensor(np.array(x, dtype=np.float32), device=device)
    out = [net(values[i : i + batch]) for i in range(0, len(values), batch)]
    return torch.cat(out).double().cpu().numpy() if out else np.empty((0, 4))


@torch.no_grad()
def _numpy_mixtures(
    net: PulseNet, x: np.ndarray, batch: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The mixtures of A and t0 of every pulse in physical units (weights, means, standard
    deviations, ``(n, components)`` each, float64), batched, in evaluation mode."""
    net.eval()
    device = next(net.parameters()).device
    values = torch.as_tensor(np.array(x, dtype=np.float32), device=device)
    parts: list[list[list[np.ndarray]]] = [[[], [], []], [[], [], []]]
    for i in range(0, len(values), batch):
        for target, mixture in enumerate(net.physical_mixtures(values[i : i + batch])):
            for part, array in zip(parts[target], mixture, strict=True):
                part.append(array.double().cpu().numpy())
    k = net.components
    return [
        tuple(np.concatenate(p) if p else np.empty((0, k)) for p in target)  # type: ignore[misc]
        for target in parts
    ]


def _amplitude(amplitude_mixture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Each pulse's predicted A: its mixture's mean."""
    weights, means, _ = amplitude_mixture
    return (weights * means).sum(axis=1)


def _log(values: np.ndarray) -> np.ndarray:
    """The log of positive values (clipped above 0), in which the calibration's cells are."""
    return np.log(np.clip(values, 1e-9, None))


@torch.no_grad()
def calibrate(net: PulseNet, x: np.ndarray, y: np.ndarray, batch: int = 65536) -> dict[str, Any]:
    """Fill the network's calibration buffers from pulses it was not trained on (``x``, the
    truth ``y`` = (A, t0)), in cells of equal counts (as many as it has, at least
    :data:`interval_calibration.MIN_PULSES` pulses each, else one; pulses with a
    non-finite prediction left out): for A the PIT's quantiles per cell of the true A, for
    t0 the levels per cell of the predicted A that make every cell of the true A nominal
    (:func:`interval_calibration.truth_conditional_levels`). Returns the predicted A's
    edges, the true A's centres, the raw intervals' coverage per cell of the true A (what
    the calibration corrects; None where empty), t0's largest remaining deviation from
    nominal in a cell of the true A on validation (68% and 95%) and whether its levels are
    the solved ones, and the count left out."""
    from mlhep.evaluation.regression import COVERAGE, mixture_cdf

    if len(x) == 0:
        raise ValueError("calibrating the intervals needs validation pulses; there are none")
    size = net.calibration_levels.shape[1]
    mixtures = _numpy_mixtures(net, x, batch)
    y = np.asarray(y, dtype=float)
    pits = [mixture_cdf(*mixture, y[:, target]) for target, mixture in enumerate(mixtures)]
    predicted = _log(_amplitude(mixtures[0]))
    usable = np.isfinite(predicted) & np.isfinite(pits[0]) & np.isfinite(pits[1])
    if not usable.any():
        raise ValueError("calibrating the intervals: no validation pulse has a finite prediction")
    predicted, true, pits = predicted[usable], _log(y[usable, 0]), [p[usable] for p in pits]
    cells = max(1, min(size, len(predicted) // calibration.MIN_PULSES))
    contents = [content for content, _ in COVERAGE]
    edges = calibration.equal_count_edges(predicted, cells)
    truth_cell = np.digitize(true, calibration.equal_count_edges(true, cells))
    centres = np.quantile(true, (np.arange(cells) + 0.5) / cells)
    # a cell left empty by tied truths takes the nearest occupied cell's levels
    occupied = np.unique(truth_cell)
    nearest = occupied[np.abs(np.arange(cells)[:, None] - occupied[None, :]).argmin(axis=1)]
    amplitude_levels = calibration.cell_levels(pits[0], truth_cell, cells)[nearest]
    t0_levels, deviation, solved = calibration.truth_conditional_levels(
        pits[1], truth_cell, np.digitize(predicted, edges), cells, contents
    )
    if deviation > 0.02:
        log.warning("t0's intervals: a cell of the true A is %.1f points off", 100 * deviation)
    # unused cells (fewer pulses than cells): never reached by t0, constant for A
    padded_edges = np.full(size - 1, np.inf)
    padded_edges[: cells - 1] = edges
    padded_centres = np.concatenate([centres, centres[-1] + np.arange(1, size - cells + 1)])
    levels = np.tile(calibration.GRID, (2, size, 1))
    levels[0, :cells], levels[0, cells:] = amplitude_levels, amplitude_levels[-1]
    levels[1, :cells] = t0_levels
    for buffer, value in (
        (net.calibration_edges, padded_edges),
        (net.calibration_centres, padded_centres),
        (net.calibration_levels, levels),
    ):
        buffer.copy_(torch.as_tensor(value))
    raw_coverage: dict[str, list[float | None]] = {}  # the mixture's own, per true-A cell
    for name, pit in zip(("amplitude", "t0"), pits, strict=True):
        for content, suffix in COVERAGE:
            inside = np.abs(pit - 0.5) <= 0.5 * content
            raw_coverage[f"{name}_{suffix}"] = [
                float(inside[truth_cell == c].mean()) if c in occupied else None
                for c in range(cells)
            ]
    return {
        "edges": np.exp(edges).tolist(),
        "centres": np.exp(centres).tolist(),
        "raw_coverage": raw_coverage,
        "t0_deviation": deviation,
        "t0_solved": solved,
        "non_finite": int((~usable).sum()),
    }


def intervals(net: PulseNet, x: np.ndarray, batch: int = 65536) -> pd.DataFrame:
    """The central intervals whose coverage the evaluation measures (``regression.
    COVERAGE``) of each pulse's mixtures of A and t0, recalibrated by the network's
    calibration (the identity if none was made): columns ``amplitude_lo68``,
    ``amplitude_hi68``, ... ``t0_hi95``. A's ends solve F(a) = level(a), the level
    interpolated in log a between the true-A cells' centres (a confidence belt); t0's are
    the mixture's quantiles at its predicted-A cell's levels (both by bisection)."""
    from mlhep.evaluation.regression import COVERAGE, mixture_quantiles

    mixtures = _numpy_mixtures(net, x, batch)
    centres = net.calibration_centres.cpu().numpy()
    cell = np.digitize(_log(_amplitude(mixtures[0])), net.calibration_edges.cpu().numpy())
    levels = net.calibration_levels.cpu().numpy()

    def level(target: int, tail: float) -> np.ndarray | Callable[[np.ndarray], np.ndarray]:
        by_cell = calibration.level_at(levels[target], tail)
        if target == 0:  # A: a function of the candidate value (the belt)
            return lambda a: np.interp(_log(a), centres, by_cell)
        return by_cell[cell]  # t0: its predicted-A cell's level

    columns = {}
    for target, (name, mixture) in enumerate(zip(("amplitude", "t0"), mixtures, strict=True)):
        for content, suffix in COVERAGE:
            tails = [0.5 * (1.0 - content), 0.5 * (1.0 + content)]
            lo, hi = mixture_quantiles(*mixture, [level(target, tail) for tail in tails])
            columns[f"{name}_lo{suffix}"], columns[f"{name}_hi{suffix}"] = lo, hi
    return pd.DataFrame(columns)


def train(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    body: str,
    settings: Mapping[str, Any],
    device: torch.device,
    threads: int = 1,
    seed: int = 0,
    noise: float = 1.0,
) -> tuple[PulseNet, dict[str, Any]]:
    """Train a :class:`PulseNet` on ``frames["train"]`` (targets ``amplitude``, ``t0``)
    with early stopping on ``frames["validation"]`` (the loop of
    :mod:`mlhep.models.torch_loop`), then calibrate its intervals there (:func:`calibrate`,
    where ``calibration_cells`` asks); return it with the best weights and its per-epoch
    losses (and the calibration's cells and raw coverage)."""
    loop = TorchLoop(device, threads, seed)

    def tensors(frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(frame[list(columns)].to_numpy(np.float32, copy=True), device=device)
        y = torch.as_tensor(
            frame[["amplitude", "t0"]].to_numpy(np.float32, copy=True), device=device
        )
        return x, y

    x, y = tensors(frames["train"])
    x_val, y_val = tensors(frames["validation"])
    net = build(len(columns), body, settings).to(device)
    net.floor.fill_(noise)
    net.t0_mean.fill_(float(y[:, 1].mean()))
    net.t0_scale.fill_(float(y[:, 1].std().clamp_min(1e-6)))
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=settings["learning_rate"], weight_decay=settings["weight_decay"]
    )
    batch = int(settings["batch_size"])
    steps = math.ceil(len(x) / batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings["epochs"] * steps)

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:
        return mixture_nll(net, x[rows], y[rows])

    def validate() -> dict[str, float]:
        net.eval()
        with torch.no_grad():
            return {"validation_loss": float(mixture_nll(net, x_val, y_val))}

    result = loop.run(
        net,
        optimizer,
        batch_loss,
        validate,
        len(x),
        batch,
        Stopping.from_settings(settings),
        scheduler=schedule,
        name=body,
    )
    info = {
        **result.info(),
        "pulses_per_second": len(x) * result.epochs_run / result.seconds,
    }
    if settings.get("calibration_cells", 0):
        info["calibration"] = calibrate(
            net,
            frames["validation"][list(columns)].to_numpy(),
            frames["validation"][["amplitude", "t0"]].to_numpy(),
        )
    return net, info


class PulseNetTrainer(Trainer):
    """:func:`train` for one body; the network saved with torch and logged in the
    pytorch flavour (raw samples in, A, t0 and their sigmas out)."""

    artifact: ClassVar[str] = "model.pt"
    loss: ClassVar[str] = "mixture_nll"

    def __init__(self, body: str) -> None:
        self.body = body

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """Train on the job's device and threads."""
        net, info = train(
            splits,
            columns,
            self.body,
            settings,
            torch.device(context.device),
            context.threads,
            context.seed,
            float(context.physics.get("noise", 1.0)),
        )
        log.info(
            "%s: best epoch %d of %d, %.0f pulses/s",
            self.body,
            info["best_epoch"],
            info["epochs_run"],
            info["pulses_per_second"],
        )
        curves = {f"{split}_loss": values for split, values in info.pop("history").items()}
        return Fitted(net, curves, best_step=info["best_epoch"], info=info)

    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """A, t0 and their predicted uncertainties, and the mixtures' central intervals."""
        x = frame[list(columns)].to_numpy()
        out = regression_frame(frame.index, predict(fitted.model, x))
        bounds = intervals(fitted.model, x)
        bounds.index = frame.index
        return pd.concat([out, bounds], axis=1)

    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """The state dict (on the CPU)."""
        torch.save(fitted.model.cpu().state_dict(), path)

    def load_model(self, path: str | os.PathLike[str], record: Mapping[str, Any]) -> PulseNet:
        """The saved network, rebuilt from the record's columns and settings."""
        net = build(len(record["columns"]), self.body, record["settings"])
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()

    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """The pytorch flavour, with the library's code and the pinned torch."""
        from mlhep.tracking.models import log_pytorch

        return log_pytorch(fitted.model, example)


#: The trainers of this family by model name.
TRAINERS: dict[str, Trainer] = {
    "pulse_mlp": PulseNetTrainer("mlp"),
    "pulse_cnn": PulseNetTrainer("cnn"),
}
