"""The one PyTorch training loop of the library's networks (the ANN, the pulse networks, the
autoencoder; the generators use its seeding and best-state keeping).

:class:`TorchLoop` seeds torch when it is made, before the caller builds its network, so
that the weights' initialisation is part of the seeded stream; on the CPU it also sets the
job's threads and deterministic algorithms, so that a seed gives bit-identical results.
:meth:`TorchLoop.run` then trains epoch by epoch: the rows in a seeded random order, one
optimiser step per batch, the validation after each epoch, early stopping with patience
after ``min_epochs``, and the weights of the best validation epoch restored.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

#: A batch's loss from the indices of its rows (a 0-d tensor with its graph).
BatchLoss = Callable[[torch.Tensor], torch.Tensor]
#: The metrics after an epoch (plain floats); one of them is the one early stopping watches.
Validate = Callable[[], Mapping[str, float]]


def seed_torch(device: torch.device, threads: int = 1, seed: int = 0) -> torch.Generator:
    """Seed torch's global stream (weight initialisation) and, on the CPU, use ``threads``
    threads and deterministic algorithms; return a generator on ``device`` seeded with
    ``seed``, for the batch order and the noise a step draws."""
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
    return torch.Generator(device=device).manual_seed(seed)


@dataclass(frozen=True)
class Stopping:
    """How long an epoch loop runs and which weights it keeps: at most ``epochs``; after at
    least ``min_epochs``, stop once ``patience`` epochs brought no better validation
    metric; keep the best epoch's weights (``keep_best``) or the last's."""

    epochs: int
    patience: int
    min_epochs: int = 1
    keep_best: bool = True

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Stopping:
        """From a model's config section (``epochs``, ``patience``, ``min_epochs`` if it has
        one); ``early_stopping: false`` (set by the studies) trains every epoch and keeps
        the last."""
        epochs = int(settings["epochs"])
        if not settings.get("early_stopping", True):
            return cls(epochs, int(settings["patience"]), epochs, keep_best=False)
        return cls(epochs, int(settings["patience"]), int(settings.get("min_epochs", 1)))


class BestState:
    """The weights of a model at the lowest value seen of a metric (copies of its state)."""

    def __init__(self) -> None:
        self.value = math.inf
        self.step = 0  # 1-based step of the best value; 0: none yet
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, value: float, step: int, model: nn.Module) -> bool:
        """Keep a copy of ``model``'s weights if ``value`` is lower than the best so far
        (NaN never is); return whether it was."""
        if not value < self.value:
            return False
        self.value, self.step = value, step
        self.state = {k: v.clone() for k, v in model.state_dict().items()}
        return True

    def restore(self, model: nn.Module) -> bool:
        """Load the kept weights into ``model``; return whether there were any."""
        if self.state is None:
            return False
        model.load_state_dict(self.state)
        return True


@dataclass
class LoopResult:
    """What a training loop learned beside the weights: the per-epoch curves
    (``train_loss``, the mean batch loss in training mode, then the validation metrics),
    the best epoch (1-based; 0 if no epoch had a finite metric) and its weights."""

    curves: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    seconds: float
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def info(self) -> dict[str, Any]:
        """The training record's facts: the train and validation loss per epoch, the kept
        epoch, the epochs run and the seconds."""
        return {
            "history": {
                "train": self.curves["train_loss"],
                "validation": self.curves["validation_loss"],
            },
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "train_seconds": self.seconds,
        }


class TorchLoop:
    """Seeded, deterministic (on the CPU) training of one network: make it first, build
    the network, then :meth:`run`. ``generator`` is the loop's seeded stream on ``device``
    (the batch order; a step may draw its noise from it too)."""

    def __init__(self, device: torch.device | str, threads: int = 1, seed: int = 0) -> None:
        self.device = torch.device(device)
        self.generator = seed_torch(self.device, threads, seed)

    def run(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batch_loss: BatchLoss,
        validate: Validate,
        n_rows: int,
        batch_size: int,
        stopping: Stopping,
        *,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        monitor: str = "validation_loss",
        name: str = "",
        on_epoch: Callable[[int, Mapping[str, float]], None] | None = None,
    ) -> LoopResult:
        """Train ``model`` on ``n_rows`` rows in batches of ``batch_size`` (a fresh random
        order each epoch; ``scheduler`` stepped per batch), ``validate`` after each epoch,
        early stopping on its ``monitor`` entry per ``stopping``; the model ends in
        evaluation mode with the kept weights. ``on_epoch`` sees each epoch's validation
        metrics after they are logged (it may raise to end training)."""
        curves: dict[str, list[float]] = {"train_loss": []}
        best = BestState()
        start = time.perf_counter()
        for epoch in range(1, stopping.epochs + 1):
            model.train()
            order = torch.randperm(n_rows, device=self.device, generator=self.generator)
            total = torch.zeros((), device=self.device)
            for i in range(0, n_rows, batch_size):
                rows = order[i : i + batch_size]
                loss = batch_loss(rows)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += loss.detach() * len(rows)
            curves["train_loss"].append(float(total) / n_rows)
            metrics = validate()
            for key, value in metrics.items():
                curves.setdefault(key, []).append(float(value))
            improved = best.update(float(metrics[monitor]), epoch, model)
            log.info(
                "%sepoch %3d  %s  lr %.2e  %.0f s",
                f"{name} " if name else "",
                epoch,
                "  ".join(f"{k} {v[-1]:.5f}" for k, v in curves.items()),
                optimizer.param_groups[0]["lr"],
                time.perf_counter() - start,
            )
            if on_epoch is not None:
                on_epoch(epoch, metrics)
            if (
                not improved
                and epoch >= stopping.min_epochs
                and epoch - best.step >= stopping.patience
            ):
                log.info("early stop after epoch %d; best epoch %d", epoch, best.step)
                break
        if stopping.keep_best:
            best.restore(model)
        model.eval()
        return LoopResult(
            curves,
            best.step,
            len(curves["train_loss"]),
            time.perf_counter() - start,
            best.state,
        )
