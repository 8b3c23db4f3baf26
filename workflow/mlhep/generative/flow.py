"""A conditional normalizing flow generating dimuon events: a neural spline flow (Durkan et
al., arXiv:1906.04032; zuko's ``NSF``) with the class label as context, trained by maximum
likelihood, early-stopped on the validation events' negative log-likelihood.

It works in eight coordinates that build the acceptance and the symmetries in (the dimuon
plug-in's :data:`mlhep.data.dimuon.representation.FLOW_COORDINATES`): log(pT - 20 GeV) and
atanh(eta / 2.4) per muon, the mu+ azimuth relative to the mu-'s as atanh(wrap(dphi - pi) /
pi) (0: back to back, where the pairs are), the jet count dequantised by uniform noise,
log(met) and the met azimuth relative to the mu- as atanh(dphi / pi). The global azimuth is
drawn uniformly when events are made.

Its layers are coupling layers (``passes=2``): sampling is one pass through the network,
as fast as the density. Unlike a GAN it has an exact density, put to use by
:meth:`FlowGenerator.log_density`: its log-density ratio of the two classes is a
classifier, its background density an anomaly score, its negative log-likelihood a
distance to the toy's exact density in nats.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from mlhep.data.dimuon.representation import FLOW_COORDINATES as COORDINATES
from mlhep.data.dimuon.representation import Standardiser, in_mass_range
from mlhep.data.dimuon.representation import decode_flow as decode
from mlhep.data.dimuon.representation import encode_flow as encode
from mlhep.data.dimuon.representation import flow_log_abs_jacobian as log_abs_jacobian
from mlhep.data.dimuon.representation import flow_pair_mass as pair_mass
from mlhep.generative.sampling import sample_events
from mlhep.models.torch_loop import BestState, seed_torch

log = logging.getLogger(__name__)

Array = NDArray[np.float64]

#: Events per forward pass when sampling or evaluating densities (bounds the memory).
BATCH = 65536
#: Candidates per class behind the fraction of the flow's mass inside the mass range.
ACCEPTANCE_EVENTS = 200_000


#: Coupling masks in turn (True: the half that conditions the other): every pair of
#: coordinates is split by one of them, so each coordinate learns from every other.
MASKS = (
    (False, True, False, True, False, True, False, True),
    (True, False, True, False, True, False, True, False),
    (False, False, True, True, False, False, True, True),
    (True, True, False, False, True, True, False, False),
    (False, False, False, False, True, True, True, True),
    (True, True, True, True, False, False, False, False),
)


def _spline_class() -> type:
    """zuko's monotonic rational-quadratic spline with its bin softmax written out: torch's
    CPU softmax over a last dimension of a few bins is about five times slower than
    exp and sum, and the spline's set-up is most of the cost of sampling."""
    from torch.distributions import Transform
    from torch.nn import functional as F
    from zuko.transforms import MonotonicRQSTransform

    def softmax(v: torch.Tensor) -> torch.Tensor:
        e = torch.exp(v - v.amax(dim=-1, keepdim=True))
        return e / e.sum(dim=-1, keepdim=True)

    class Spline(MonotonicRQSTransform):
        """:class:`zuko.transforms.MonotonicRQSTransform`, the same numbers, faster."""

        def __init__(
            self,
            widths: torch.Tensor,
            heights: torch.Tensor,
            derivatives: torch.Tensor,
            bound: float = 5.0,
            slope: float = 1e-3,
            **kwargs: Any,
        ) -> None:
            Transform.__init__(self, **kwargs)
            log_slope = math.log(slope)
            widths = widths / (1 + abs(2 * widths / log_slope))
            heights = heights / (1 + abs(2 * heights / log_slope))
            derivatives = derivatives / (1 + abs(derivatives / log_slope))
            widths = F.pad(softmax(widths), (1, 0), value=0)
            heights = F.pad(softmax(heights), (1, 0), value=0)
            self.horizontal = bound * (2 * torch.cumsum(widths, dim=-1) - 1)
            self.vertical = bound * (2 * torch.cumsum(heights, dim=-1) - 1)
            self.derivatives = torch.exp(F.pad(derivatives, (1, 1), value=0))

    return Spline


def build_flow(settings: Mapping[str, Any]) -> nn.Module:
    """The conditional neural spline flow of ``settings``: ``transforms`` coupling layers
    (half the coordinates condition a spline of the other half and the label; masks from
    :data:`MASKS` in turn), a standard normal base. Coupling layers invert in one pass, so
    sampling costs what the density costs."""
    from zuko.distributions import DiagNormal
    from zuko.flows.coupling import GeneralCouplingTransform
    from zuko.lazy import Flow, UnconditionalDistribution

    bins, spline = settings["bins"], _spline_class()
    features = len(COORDINATES)
    layers = [
        GeneralCouplingTransform(
            features,
            1,
            mask=torch.tensor(MASKS[i % len(MASKS)]),
            univariate=spline,
            shapes=[(bins,), (bins,), (bins - 1,)],
            hidden_features=[settings["width"]] * settings["layers"],
        )
        for i in range(settings["transforms"])
    ]
    base = UnconditionalDistribution(
        DiagNormal, torch.zeros(features), torch.ones(features), buffer=True
    )
    return Flow(layers, base)


def _context(labels: torch.Tensor) -> torch.Tensor:
    """The flow's context of integer labels: +1 signal, -1 background."""
    return (2.0 * labels.float() - 1.0).unsqueeze(1)


@dataclass
class FlowGenerator:
    """A trained flow with what it needs to make events and densities: the standardiser of
    its coordinates, its settings and the log of the fraction of each class's flow density
    inside the mass range (``log_acceptance``: background, signal), which normalises the
    density of the events it makes (those outside the range are drawn again)."""

    flow: nn.Module
    standardiser: Standardiser
    settings: dict[str, Any]
    log_acceptance: tuple[float, float] = field(default=(0.0, 0.0))

    @property
    def device(self) -> torch.device:
        """Where the network lives."""
        return next(self.flow.parameters()).device

    @torch.no_grad()
    def coordinates(self, labels: np.ndarray, generator: torch.Generator) -> Array:
        """Raw coordinates of one event per label (no rejection): Gaussian noise through
        the inverse transform, one pass."""
        self.flow.eval()
        out = []
        for start in range(0, len(labels), BATCH):
            y = torch.as_tensor(labels[start : start + BATCH], device=self.device)
            z = torch.randn(len(y), len(COORDINATES), generator=generator, device=self.device)
            out.append(self.flow(_context(y)).transform.inv(z).double().cpu().numpy())
        x = np.concatenate(out) if out else np.zeros((0, len(COORDINATES)))
        return self.standardiser.inverse(x)

    def sample(
        self, labels: np.ndarray, seed: int, max_rounds: int = 100, strict: bool = True
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """One event per entry of ``labels`` (1 signal, 0 background), in order: the
        low-level columns and ``label``; events outside the mass range are drawn again;
        also the number tried per class (see :meth:`mlhep.generative.gan.EventGenerator.sample`)."""
        return sample_events(
            labels,
            seed,
            self.device,
            len(COORDINATES),
            self.coordinates,
            lambda raw: in_mass_range(pair_mass(raw)),
            decode,
            max_rounds,
            strict,
            "train it longer: models.flow.steps",
        )

    @torch.no_grad()
    def flow_log_prob(self, raw: Array, label: int) -> Array:
        """The flow's log density of raw coordinates for class ``label`` (1 or 0), in the
        raw coordinates (the standardisation's Jacobian included), before truncation."""
        self.flow.eval()
        x = self.standardiser.forward(raw)
        out = []
        for start in range(0, len(x), BATCH):
            chunk = torch.as_tensor(x[start : start + BATCH], dtype=torch.float32)
            chunk = chunk.to(self.device)
            ctx = _context(torch.full((len(chunk),), label, device=self.device))
            out.append(self.flow(ctx).log_prob(chunk).double().cpu().numpy())
        values = np.concatenate(out) if out else np.zeros(0)
        return values - float(np.log(np.asarray(self.standardiser.scale)).sum())

    def log_density(
        self, frame: pd.DataFrame | Mapping[str, Array], seed: int, draws: int = 4
    ) -> dict[int, Array]:
        """log p(x | class) per event and class (1, 0) of the events the flow makes, in the
        low-level features without the global azimuth (pT, eta, the relative azimuths,
        the jet count, met): the flow's density through the coordinates' Jacobian, normalised
        to the mass range; the jet count's probability averaged over ``draws``
        dequantisations."""
        rng = np.random.default_rng([seed, 4])
        per_draw: dict[int, list[Array]] = {0: [], 1: []}
        for _ in range(draws):
            raw = encode(frame, rng)
            jacobian = log_abs_jacobian(raw)
            for label in (0, 1):
                per_draw[label].append(self.flow_log_prob(raw, label) + jacobian)
        out = {}
        for label in (0, 1):
            stacked = np.stack(per_draw[label])
            top = stacked.max(axis=0)
            mean = top + np.log(np.mean(np.exp(stacked - top), axis=0))
            out[label] = mean - self.log_acceptance[label]
        return out

    def measure_acceptance(self, seed: int, events: int = ACCEPTANCE_EVENTS) -> None:
        """Set :attr:`log_acceptance` from ``events`` candidates per class."""
        torch_gen = torch.Generator(device=self.device).manual_seed(seed)
        values = []
        for label in (0, 1):
            raw = self.coordinates(np.full(events, label, np.int64), torch_gen)
            values.append(float(np.log(max(in_mass_range(pair_mass(raw)).mean(), 1.0 / events))))
        self.log_acceptance = (values[0], values[1])

    def save(self, path: str | os.PathLike[str]) -> None:
        """The weights, the standardiser, the settings and the acceptance in one file."""
        torch.save(
            {
                "state_dict": {k: v.cpu() for k, v in self.flow.state_dict().items()},
                "standardiser": {
                    "mean": list(self.standardiser.mean),
                    "scale": list(self.standardiser.scale),
                },
                "settings": dict(self.settings),
                "log_acceptance": list(self.log_acceptance),
            },
            path,
        )


def load(path: str | os.PathLike[str], device: str = "cpu") -> FlowGenerator:
    """A flow saved by :meth:`FlowGenerator.save`."""
    saved = torch.load(path, map_location=device, weights_only=True)
    flow = build_flow(saved["settings"])
    flow.load_state_dict(saved["state_dict"])
    flow.to(device).eval()
    standardiser = Standardiser(
        tuple(saved["standardiser"]["mean"]), tuple(saved["standardiser"]["scale"])
    )
    acceptance = tuple(saved["log_acceptance"])
    return FlowGenerator(flow, standardiser, saved["settings"], (acceptance[0], acceptance[1]))


def fit_standardiser(raw: Array) -> Standardiser:
    """Means and standard deviations of every coordinate (the splines act on [-5, 5])."""
    return Standardiser(
        tuple(float(v) for v in raw.mean(axis=0)),
        tuple(float(v) for v in np.maximum(raw.std(axis=0), 1e-12)),
    )


def train(
    frame: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    validation: pd.DataFrame,
    device: str = "cpu",
    seed: int = 0,
    threads: int = 1,
    monitor: Any = None,
) -> tuple[FlowGenerator, dict[str, Any]]:
    """Train the flow on the events of ``frame`` (low-level columns and ``label``) by
    maximum likelihood (Adam, cosine-decayed learning rate), the checkpoint of lowest
    negative log-likelihood on ``validation`` kept; ``monitor`` (as the GANs') records the
    W1 distances at each checkpoint. Returns the flow and its history."""
    dev = torch.device(device)
    torch_gen = seed_torch(dev, threads, seed)
    rng = np.random.default_rng(seed)
    raw = encode(frame, rng)
    standardiser = fit_standardiser(raw)
    x_all = torch.as_tensor(standardiser.forward(raw), dtype=torch.float32, device=dev)
    c_all = _context(torch.as_tensor(frame["label"].to_numpy(np.int64), device=dev))
    n_val = min(len(validation), settings["validation_events"])
    val = validation.iloc[:n_val]
    x_val = torch.as_tensor(
        standardiser.forward(encode(val, np.random.default_rng([seed, 5]))),
        dtype=torch.float32,
        device=dev,
    )
    c_val = _context(torch.as_tensor(val["label"].to_numpy(np.int64), device=dev))
    log_scale = float(np.log(np.asarray(standardiser.scale)).sum())
    flow = build_flow(settings).to(dev)
    opt = torch.optim.Adam(flow.parameters(), lr=settings["learning_rate"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings["steps"])
    batch, n, steps = settings["batch_size"], len(x_all), settings["steps"]
    history: dict[str, list[float]] = {
        "step": [],
        "epoch": [],
        "train_nll": [],
        "validation_nll": [],
        "seconds": [],
    }
    total, count = torch.zeros((), device=dev), 0
    best = BestState()
    start = time.perf_counter()

    @torch.no_grad()
    def validation_nll() -> float:
        flow.eval()
        nll = sum(
            -flow(c_val[i : i + BATCH]).log_prob(x_val[i : i + BATCH]).sum()
            for i in range(0, len(x_val), BATCH)
        )
        flow.train()
        return float(nll) / len(x_val) + log_scale  # nats per event, raw coordinates

    for step in range(1, steps + 1):
        idx = torch.randint(n, (batch,), generator=torch_gen, device=dev)
        loss = -flow(c_all[idx]).log_prob(x_all[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        total += loss.detach()
        count += 1
        if step % settings["eval_every"] == 0 or step == steps:
            value = validation_nll()
            history["step"].append(step)
            history["epoch"].append(step * batch / n)
            history["train_nll"].append(float(total) / count + log_scale)
            history["validation_nll"].append(value)
            total, count = torch.zeros((), device=dev), 0
            metrics: dict[str, float] = {}
            if monitor is not None:
                metrics = monitor(FlowGenerator(flow, standardiser, dict(settings)))
                for key, v in metrics.items():
                    if key != "selection":
                        history.setdefault(key, []).append(float(v))
            best.update(value, step, flow)
            history["seconds"].append(time.perf_counter() - start)
            log.info(
                "step %5d  epoch %6.2f  train NLL %.4f  validation NLL %.4f  %s  %.0f s",
                step,
                history["epoch"][-1],
                history["train_nll"][-1],
                value,
                "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "selection"),
                history["seconds"][-1],
            )
    restored = settings["keep_best"] and best.restore(flow)
    flow.eval()
    generator = FlowGenerator(flow, standardiser, dict(settings))
    generator.measure_acceptance(seed)
    info = {
        "history": history,
        "best_step": best.step if restored else steps,
        "train_seconds": time.perf_counter() - start,
        "device": str(dev),
        "n_train": n,
        "validation_nll": best.value if restored else history["validation_nll"][-1],
        "mass_range_acceptance": {
            "background": math.exp(generator.log_acceptance[0]),
            "signal": math.exp(generator.log_acceptance[1]),
        },
    }
    return generator, info


@dataclass(frozen=True)
class FlowTrainer:
    """What the model registry holds for ``models.flow``: how it trains and loads."""

    objective: str = "flow"

    def train(
        self, frame: pd.DataFrame, settings: Mapping[str, Any], **kwargs: Any
    ) -> tuple[FlowGenerator, dict[str, Any]]:
        """:func:`train`."""
        return train(frame, {**settings, "objective": self.objective}, **kwargs)

    @staticmethod
    def load(path: str | os.PathLike[str], device: str = "cpu") -> FlowGenerator:
        """:func:`load`."""
        return load(path, device)


#: The trainers of this family by model name (see :data:`mlhep.models.MODELS`).
TRAINERS: dict[str, FlowTrainer] = {"flow": FlowTrainer()}
