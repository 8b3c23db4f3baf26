"""Conditional GAN and WGAN-GP generators of dimuon events, one training loop for both.

- ``objective: gan``: the minimax game min_G max_D E[log D(x|y)] + E[log(1 - D(G(z|y)|y))]
  (Goodfellow et al., arXiv:1406.2661), the generator's loss either the minimax one,
  log(1 - D(G(z))), or the non-saturating -log D(G(z)) (``non_saturating``);
- ``objective: wgan_gp``: the critic estimates the Wasserstein-1 distance, kept 1-Lipschitz
  by a gradient penalty on interpolates (Gulrajani et al., arXiv:1704.00028), with
  ``n_critic`` critic steps per generator step.

Both are conditional on the class label (signal, background): the generator gets the label
beside its noise, the critic beside the event. The generator writes the ten coordinates of
a representation of :mod:`mlhep.data.dimuon.representation` (``muons``, or ``pair`` with the
pair mass a coordinate and the muons derived analytically); the critic is ``blind`` (sees
those coordinates only) or ``physics`` (also the pair mass as an input of its own, at
``mass_scale`` GeV per unit, computed differentiably from the generated coordinates). The
WGAN-GP's penalty is taken on interpolates of the critic's inputs, the mass included, so
its slope in the mass is bounded per ``mass_scale`` GeV. Butter, Plehn and Winterhalder
(arXiv:1907.03764) add an MMD on resonance masses to the generator's loss for the same
reason: ``mmd_weight``.

Training is deterministic on the CPU for a fixed seed; on CUDA the whole training set
lives on the device. An exponential moving average (EMA) of the generator's weights may
be kept (``ema_decay``, from step ``ema_start``); the checkpoint kept is the one whose
generated low-level features (with ``select_on_mass`` also the signal's pair mass) are
closest to the validation events.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from mlhep.data.dimuon.representation import (
    CIRCLES,
    COORDINATES,
    REPRESENTATIONS,
    Representation,
    Standardiser,
)
from mlhep.generative.sampling import Monitor, sample_events
from mlhep.models.torch_loop import BestState, seed_torch

log = logging.getLogger(__name__)

N_CLASSES = 2
OBJECTIVES = ("gan", "wgan_gp")
CRITICS = ("blind", "physics")
#: Gaussian kernel widths [GeV] of the MMD on the pair mass (about the peak's half width,
#: its FWHM and the continuum's scale; Butter et al. use a width of the order of Gamma).
MMD_WIDTHS = (1.0, 3.0, 10.0)
#: Events generated per forward pass when sampling (bounds the memory).
SAMPLE_BATCH = 65536


def _mlp(n_in: int, width: int, layers: int, n_out: int, spectral: bool = False) -> nn.Sequential:
    """Linear layers with leaky ReLUs; with ``spectral``, each layer's weight is divided by
    its largest singular value (Miyato et al., arXiv:1802.05957: a 1-Lipschitz critic)."""
    norm = nn.utils.parametrizations.spectral_norm if spectral else (lambda layer: layer)
    blocks: list[nn.Module] = []
    size = n_in
    for _ in range(layers):
        blocks += [norm(nn.Linear(size, width)), nn.LeakyReLU(0.2)]
        size = width
    blocks.append(norm(nn.Linear(size, n_out)))
    return nn.Sequential(*blocks)


class Generator(nn.Module):
    """Noise and a one-hot label in, standardised network coordinates out (the (cos, sin)
    pairs projected onto the unit circle)."""

    def __init__(self, latent_dim: int, width: int, layers: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp(latent_dim + N_CLASSES, width, layers, len(COORDINATES))

    def forward(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Generated coordinates of a batch."""
        out = self.net(torch.cat([z, onehot], dim=1))
        parts = list(out.unbind(dim=1))
        for i, j in CIRCLES:
            norm = torch.sqrt(parts[i] ** 2 + parts[j] ** 2).clamp_min(1e-6)
            parts[i], parts[j] = parts[i] / norm, parts[j] / norm
        return torch.stack(parts, dim=1)


class Critic(nn.Module):
    """Event coordinates, a one-hot label and, for the physics-informed critic, the pair
    mass at ``mass_scale`` GeV per unit in; one real number out (a logit for the GAN)."""

    def __init__(
        self,
        width: int,
        layers: int,
        standardiser: Standardiser,
        representation: Representation,
        mass_scaling: tuple[float, float] | None,
        spectral: bool = False,
    ) -> None:
        super().__init__()
        self.standardiser = standardiser
        self.representation = representation
        self.mass_scaling = mass_scaling
        extra = 0 if mass_scaling is None else 1
        self.net = _mlp(len(COORDINATES) + N_CLASSES + extra, width, layers, 1, spectral)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the critic reads of standardised coordinates: the coordinates and, for the
        physics-informed critic, the scaled pair mass as an input of its own."""
        if self.mass_scaling is None:
            return x
        mass = self.representation.mass_torch(self.standardiser.inverse_torch(x))
        mean, scale = self.mass_scaling
        return torch.cat([x, ((mass - mean) / scale).unsqueeze(1)], dim=1)

    def score(self, features: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """The critic's output per event from its :meth:`features`."""
        return self.net(torch.cat([features, onehot], dim=1)).squeeze(1)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """The critic's output per event."""
        return self.score(self.features(x), onehot)


def one_hot(labels: torch.Tensor) -> torch.Tensor:
    """Float one-hot codes of integer labels."""
    return F.one_hot(labels.long(), N_CLASSES).float()


@dataclass
class EventGenerator:
    """A trained generator with what it needs to make events: the standardiser and its
    settings. :meth:`sample` returns the toy's low-level columns (in the mass range)."""

    net: Generator
    standardiser: Standardiser
    settings: dict[str, Any]

    @property
    def device(self) -> torch.device:
        """Where the network lives."""
        return next(self.net.parameters()).device

    @property
    def representation(self) -> Representation:
        """The coordinates it writes (muons, or the pair with the muons derived)."""
        return REPRESENTATIONS[self.settings.get("representation", "muons")]

    @torch.no_grad()
    def coordinates(self, labels: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """Raw network coordinates of one generated event per label (no rejection)."""
        self.net.eval()
        out = []
        for start in range(0, len(labels), SAMPLE_BATCH):
            y = torch.as_tensor(labels[start : start + SAMPLE_BATCH], device=self.device)
            z = torch.randn(len(y), self.net.latent_dim, generator=generator, device=self.device)
            out.append(self.net(z, one_hot(y)).double().cpu().numpy())
        x = np.concatenate(out) if out else np.zeros((0, len(COORDINATES)))
        return self.standardiser.inverse(x)

    def sample(
        self, labels: np.ndarray, seed: int, max_rounds: int = 100, strict: bool = True
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """One event per entry of ``labels`` (1 signal, 0 background), in order: the
        low-level columns and ``label``. Events outside the mass range or the acceptance
        are regenerated, as the toy's generator does; returns also the number tried per
        class. After ``max_rounds`` a ``strict`` call fails, otherwise the missing events
        are left out (for monitoring an early generator). With the ``reflect`` setting the
        relative azimuths are mirrored at random (phi -> -phi)."""
        rep, reflect = self.representation, bool(self.settings.get("reflect", False))
        return sample_events(
            labels,
            seed,
            self.device,
            len(COORDINATES),
            self.coordinates,
            rep.accept,
            lambda raw, rng: rep.decode(raw, rng, reflect=reflect),
            max_rounds,
            strict,
            f"train it longer: models.{self.settings.get('objective', '<model>')}.steps",
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """The weights, the standardiser and the settings in one torch file."""
        torch.save(
            {
                "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()},
                "standardiser": {
                    "mean": list(self.standardiser.mean),
                    "scale": list(self.standardiser.scale),
                },
                "settings": dict(self.settings),
            },
            path,
        )


def load(path: str | os.PathLike[str], device: str = "cpu") -> EventGenerator:
    """A generator saved by :meth:`EventGenerator.save`."""
    saved = torch.load(path, map_location=device, weights_only=True)
    settings = saved["settings"]
    net = Generator(settings["latent_dim"], settings["width"], settings["layers"])
    net.load_state_dict(saved["state_dict"])
    net.to(device).eval()
    standardiser = Standardiser(
        tuple(saved["standardiser"]["mean"]), tuple(saved["standardiser"]["scale"])
    )
    return EventGenerator(net, standardiser, settings)


def check_settings(settings: Mapping[str, Any]) -> None:
    """``ValueError`` naming the key for settings the schema cannot check."""
    if settings["objective"] not in OBJECTIVES:
        raise ValueError(f"objective {settings['objective']!r}: not one of {OBJECTIVES}")
    if settings["critic"] not in CRITICS:
        raise ValueError(f"critic {settings['critic']!r}: not one of {CRITICS}")
    if settings["representation"] not in REPRESENTATIONS:
        raise ValueError(
            f"representation {settings['representation']!r}: not one of {sorted(REPRESENTATIONS)}"
        )


def mass_mmd(
    generated: torch.Tensor, real: torch.Tensor, widths: tuple[float, ...]
) -> torch.Tensor:
    """The squared maximum mean discrepancy between two batches of pair masses [GeV], a sum
    of Gaussian kernels of the given widths (biased estimator, V-statistic; Gretton et al.,
    JMLR 13 (2012) 723): zero when the two are alike, differentiable in ``generated``."""
    if len(generated) == 0 or len(real) == 0:
        return generated.sum() * 0.0

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = (a[:, None] - b[None, :]) ** 2
        return sum(torch.exp(-d2 / (2.0 * w * w)) for w in widths).mean()

    return kernel(generated, generated) + kernel(real, real) - 2.0 * kernel(generated, real)


def train(
    frame: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    device: str = "cpu",
    seed: int = 0,
    threads: int = 1,
    monitor: Monitor | None = None,
) -> tuple[EventGenerator, dict[str, Any]]:
    """Train a generator on the events of ``frame`` (low-level columns and ``label``) per
    ``settings`` (a ``generative.models.<name>`` section); return the kept generator and
    the history (per checkpoint: generator step, epochs of critic data, mean losses, the
    monitor's metrics, seconds)."""
    check_settings(settings)
    dev = torch.device(device)
    # seeded and deterministic as the other networks; its stream draws batches and noise
    torch_gen = seed_torch(dev, threads, seed)
    rng = np.random.default_rng(seed)
    rep = REPRESENTATIONS[settings["representation"]]
    raw = rep.encode(frame, rng)
    standardiser = Standardiser.fit(raw)
    x_all = torch.as_tensor(standardiser.forward(raw), dtype=torch.float32, device=dev)
    y_all = torch.as_tensor(frame["label"].to_numpy(np.int64), device=dev)
    mass = rep.mass(raw)
    m_all = torch.as_tensor(mass, dtype=torch.float32, device=dev)  # for the MMD
    mass_scaling = None
    if settings["critic"] == "physics":
        # the critic's resolution in mass: a few GeV per unit, so that a narrow peak is
        # a feature it can see (at the sample's standard deviation, 13 GeV, it is not)
        mass_scaling = (float(mass.mean()), float(settings["mass_scale"]))
    gen = Generator(settings["latent_dim"], settings["width"], settings["layers"]).to(dev)
    critic = Critic(
        settings["width"],
        settings["layers"],
        standardiser,
        rep,
        mass_scaling,
        settings["spectral_norm"],
    ).to(dev)
    mmd_weight = float(settings["mmd_weight"])
    wgan = settings["objective"] == "wgan_gp"
    betas = tuple(settings["betas"])
    opt_g = torch.optim.Adam(gen.parameters(), lr=settings["learning_rate_generator"], betas=betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=settings["learning_rate_critic"], betas=betas)
    ema = copy.deepcopy(gen) if settings["ema_decay"] > 0 else None
    batch, n = settings["batch_size"], len(x_all)
    n_critic = settings["n_critic"]
    history: dict[str, list[float]] = {
        "step": [],
        "epoch": [],
        "critic_loss": [],
        "generator_loss": [],
        "seconds": [],
    }
    # loss sums stay on the device between checkpoints (no synchronisation per step)
    sums = {
        "critic_loss": torch.zeros((), device=dev),
        "generator_loss": torch.zeros((), device=dev),
    }
    count = 0
    best = BestState()  # the checkpoint of best selection metric
    kept = ema if ema is not None else gen
    start = time.perf_counter()

    def critic_loss(x_real: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        oh = one_hot(y)
        z = torch.randn(len(y), gen.latent_dim, generator=torch_gen, device=dev)
        with torch.no_grad():
            x_fake = gen(z, oh)
        f_real, f_fake = critic.features(x_real), critic.features(x_fake)
        out_real, out_fake = critic.score(f_real, oh), critic.score(f_fake, oh)
        if not wgan:
            return F.softplus(-out_real).mean() + F.softplus(out_fake).mean()
        # the penalty on interpolates of what the critic reads: the physics critic's mass is
        # an input of its own, so its slope is bounded per mass_scale GeV, not per unit of
        # the muon coordinates through which the mass varies slowly
        eps = torch.rand(len(y), 1, generator=torch_gen, device=dev)
        mixed = (eps * f_real + (1 - eps) * f_fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic.score(mixed, oh).sum(), mixed, create_graph=True)
        penalty = ((grad.norm(2, dim=1) - 1.0) ** 2).mean()
        return out_fake.mean() - out_real.mean() + settings["gradient_penalty"] * penalty

    for step in range(1, settings["steps"] + 1):
        gen.train()
        for _ in range(n_critic):
            idx = torch.randint(n, (batch,), generator=torch_gen, device=dev)
            loss_c = critic_loss(x_all[idx], y_all[idx])
            opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            opt_c.step()
        idx = torch.randint(n, (batch,), generator=torch_gen, device=dev)
        oh = one_hot(y_all[idx])
        z = torch.randn(batch, gen.latent_dim, generator=torch_gen, device=dev)
        x_fake = gen(z, oh)
        out = critic(x_fake, oh)
        if wgan:
            loss_g = -out.mean()
        elif settings["non_saturating"]:
            loss_g = F.softplus(-out).mean()  # -log D(G(z))
        else:
            loss_g = -F.softplus(out).mean()  # log(1 - D(G(z)))
        if mmd_weight > 0:  # the generated masses against the real ones, class by class
            m_fake = rep.mass_torch(standardiser.inverse_torch(x_fake))
            y, m_real = y_all[idx], m_all[idx]
            loss_g = loss_g + mmd_weight * sum(
                mass_mmd(m_fake[y == c], m_real[y == c], MMD_WIDTHS) for c in (0, 1)
            )
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if ema is not None:
            decay = settings["ema_decay"] if step >= settings["ema_start"] else 0.0
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), gen.parameters(), strict=True):
                    p_ema.lerp_(p, 1.0 - decay)
        sums["critic_loss"] += loss_c.detach()
        sums["generator_loss"] += loss_g.detach()
        count += 1
        if step % settings["eval_every"] == 0 or step == settings["steps"]:
            history["step"].append(step)
            history["epoch"].append(step * n_critic * batch / n)
            history["critic_loss"].append(float(sums["critic_loss"]) / count)
            history["generator_loss"].append(float(sums["generator_loss"]) / count)
            sums = {k: torch.zeros((), device=dev) for k in sums}
            count = 0
            metrics: dict[str, float] = {}
            if monitor is not None:
                metrics = monitor(EventGenerator(kept, standardiser, dict(settings)))
                for key, value in metrics.items():
                    history.setdefault(key, []).append(float(value))
                selection = metrics["selection"]
                if settings["select_on_mass"]:  # the signal mass as a tenth feature
                    selection = (9.0 * selection + metrics["w1_mass_signal_std"]) / 10.0
                best.update(float(selection), step, kept)
            history["seconds"].append(time.perf_counter() - start)
            log.info(
                "step %5d  epoch %6.2f  critic %.4f  generator %.4f  %s  %.0f s",
                step,
                history["epoch"][-1],
                history["critic_loss"][-1],
                history["generator_loss"][-1],
                "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
                history["seconds"][-1],
            )
    restored = settings["keep_best"] and best.restore(kept)
    kept.eval()
    info = {
        "history": history,
        "best_step": best.step if restored else settings["steps"],
        "train_seconds": time.perf_counter() - start,
        "device": str(dev),
        "n_train": n,
        "mass_scaling": mass_scaling,
    }
    return EventGenerator(kept, standardiser, dict(settings)), info


@dataclass(frozen=True)
class GeneratorTrainer:
    """What the model registry holds for a generator model (``models.gan``,
    ``models.wgan_gp``): its objective, how it trains and how a saved one loads."""

    objective: str

    def train(
        self,
        frame: pd.DataFrame,
        settings: Mapping[str, Any],
        validation: pd.DataFrame | None = None,
        **kwargs: Any,
    ) -> tuple[EventGenerator, dict[str, Any]]:
        """:func:`train` with this model's objective (the validation events reach a GAN
        through its monitor, which chooses the checkpoint)."""
        return train(frame, {**settings, "objective": self.objective}, **kwargs)

    @staticmethod
    def load(path: str | os.PathLike[str], device: str = "cpu") -> EventGenerator:
        """:func:`load`."""
        return load(path, device)


#: The trainers of this family by model name (see :data:`mlhep.models.MODELS`).
TRAINERS: dict[str, GeneratorTrainer] = {name: GeneratorTrainer(name) for name in OBJECTIVES}
