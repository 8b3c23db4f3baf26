"""A PyTorch multilayer perceptron for binary classification: binary cross-entropy, AdamW,
early stopping on the validation loss with the best weights restored, inputs
standardised with training statistics (folded into the network, so the saved model takes
raw features).

On CUDA the whole training set lives on the GPU and batches are index slices (no
per-batch host-to-device copies, no DataLoader workers); on CPU torch uses the rule's
threads, and results are bit-identical for a fixed seed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from torch import nn

from mlhep.models.base import FitContext, Fitted, Trainer, margin_frame, split_curves

log = logging.getLogger(__name__)

#: Training events on which the per-epoch training AUC is measured.
TRAIN_AUC_EVENTS = 50_000
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Standardisation, ``layers`` hidden layers of ``width`` units with an activation and
    dropout, and one output logit."""

    def __init__(
        self,
        n_inputs: int,
        layers: int,
        width: int,
        activation: str = "silu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_inputs))
        self.register_buffer("scale", torch.ones(n_inputs))
        blocks: list[nn.Module] = []
        size = n_inputs
        for _ in range(layers):
            blocks += [nn.Linear(size, width), ACTIVATIONS[activation]()]
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            size = width
        blocks.append(nn.Linear(size, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Signal logit of each row of raw (unstandardised) inputs."""
        return self.net((x - self.mean) / self.scale).squeeze(-1)


def _tensor(frame: pd.DataFrame, columns: Sequence[str], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(frame[list(columns)].to_numpy(np.float32, copy=True), device=device)


@torch.no_grad()
def logits(model: nn.Module, x: torch.Tensor, batch: int = 65536) -> np.ndarray:
    """Logits of every row, in evaluation mode, batched; as float64 NumPy."""
    model.eval()
    out = torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])
    return out.double().cpu().numpy()


def _lr_scheduler(
    optimizer: torch.optim.Optimizer, settings: Mapping[str, Any], steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule stepped once per batch: constant, cosine or one-cycle."""
    total = settings["epochs"] * steps_per_epoch
    if settings["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if settings["schedule"] == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=settings["learning_rate"], total_steps=total
        )
    return None


def train(
    train_frame: pd.DataFrame,
    validation_frame: pd.DataFrame,
    columns: Sequence[str],
    settings: Mapping[str, Any],
    device: torch.device,
    threads: int = 1,
    seed: int = 0,
    keep_best: bool = True,
) -> tuple[MLP, dict[str, Any]]:
    """Train an :class:`MLP` per ``settings`` (the config section ``models.ann``); return
    it with the best validation-loss weights (the last epoch's if not ``keep_best``, for
    the overtraining studies) and the per-epoch history.

    Early stopping: after at least ``min_epochs``, stop once the validation loss has not
    improved for ``patience`` epochs (the plateau before the network learns the dimuon mass
    must not trigger it, hence the minimum).
    """
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
    x = _tensor(train_frame, columns, device)
    y = torch.as_tensor(train_frame["label"].to_numpy(np.float32), device=device)
    x_val = _tensor(validation_frame, columns, device)
    y_val = validation_frame["label"].to_numpy()
    y_val_t = torch.as_tensor(y_val.astype(np.float32), device=device)
    model = build(len(columns), settings).to(device)
    model.mean.copy_(x.mean(0))
    model.scale.copy_(x.std(0).clamp_min(1e-12))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings["learning_rate"], weight_decay=settings["weight_decay"]
    )
    batch = settings["batch_size"]
    steps = -(-len(x) // batch)
    scheduler = _lr_scheduler(optimizer, settings, steps)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator(device=device).manual_seed(seed)
    # the training AUC per epoch is measured on a fixed subsample (cheap, still unbiased)
    monitor = np.random.default_rng(seed).permutation(len(x))[:TRAIN_AUC_EVENTS]
    monitor_index = torch.as_tensor(monitor, device=device)
    x_monitor, y_monitor = x[monitor_index], y[monitor_index].cpu().numpy()
    history: dict[str, list[float]] = {
        "train": [],
        "validation": [],
        "train_auc": [],
        "validation_auc": [],
        "train_eval": [],
    }
    best = (float("inf"), -1, None)
    start = time.perf_counter()
    for epoch in range(settings["epochs"]):
        model.train()
        order = torch.randperm(len(x), device=device, generator=generator)
        total = torch.zeros((), device=device)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            loss = loss_fn(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.detach() * len(idx)
        val_logits = logits(model, x_val)
        val_loss = float(loss_fn(torch.as_tensor(val_logits, device=device).float(), y_val_t))
        history["train"].append(float(total) / len(x))
        history["validation"].append(val_loss)
        history["validation_auc"].append(float(roc_auc_score(y_val, val_logits)))
        monitor_logits = logits(model, x_monitor)
        history["train_auc"].append(float(roc_auc_score(y_monitor, monitor_logits)))
        history["train_eval"].append(
            float(loss_fn(torch.as_tensor(monitor_logits, device=device).float(), y[monitor_index]))
        )
        log.info(
            "epoch %3d  train loss %.5f  val loss %.5f  train AUC %.5f  val AUC %.5f  lr %.2e  %.0f s",
            epoch + 1,
            history["train"][-1],
            val_loss,
            history["train_auc"][-1],
            history["validation_auc"][-1],
            optimizer.param_groups[0]["lr"],
            time.perf_counter() - start,
        )
        if val_loss < best[0]:
            best = (val_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        elif epoch + 1 >= settings["min_epochs"] and epoch - best[1] >= settings["patience"]:
            log.info("early stop after epoch %d; best epoch %d", epoch + 1, best[1] + 1)
            break
    if keep_best:
        model.load_state_dict(best[2])
    model.eval()
    info = {
        "best_epoch": best[1] + 1,
        "epochs_run": len(history["train"]),
        "history": {"train": history["train"], "validation": history["validation"]},
        # the training loss in evaluation mode (no dropout) on the monitored events
        "train_eval_loss": history["train_eval"],
        "auc_history": {"train": history["train_auc"], "validation": history["validation_auc"]},
        "train_seconds": time.perf_counter() - start,
        "events_per_second": len(x) * len(history["train"]) / (time.perf_counter() - start),
        "device": str(device),
    }
    return model, info


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A trained network behind scikit-learn's interface (for permutation importance)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def fit(self, x: Any, y: Any) -> TorchClassifier:
        """Already trained: only records the classes."""
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The network's logit."""
        device = next(self.model.parameters()).device
        values = (
            x.to_numpy(np.float32, copy=True)
            if isinstance(x, pd.DataFrame)
            else np.array(x, np.float32)
        )
        return logits(self.model, torch.as_tensor(values, device=device))

    def predict_proba(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Signal probability (sigmoid of the logit) as two columns."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(x)))
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """1 where the logit is positive."""
        return (self.decision_function(x) > 0).astype(np.int64)


def build(n_inputs: int, settings: Mapping[str, Any]) -> MLP:
    """The :class:`MLP` of the config section ``models.ann`` for ``n_inputs`` features."""
    return MLP(
        n_inputs, settings["layers"], settings["width"], settings["activation"], settings["dropout"]
    )


class AnnTrainer(Trainer):
    """The MLP of :func:`train`; its score is the logit, its weights saved with torch and
    logged in the pytorch flavour (standardisation included, raw features in)."""

    artifact: ClassVar[str] = "model.pt"

    def fit(
        self,
        splits: Mapping[str, pd.DataFrame],
        columns: Sequence[str],
        settings: Mapping[str, Any],
        context: FitContext,
    ) -> Fitted:
        """:func:`train` on the job's device and threads."""
        net, info = train(
            splits["train"],
            splits["validation"],
            columns,
            settings,
            torch.device(context.device),
            context.threads,
            context.seed,
        )
        log.info(
            "ANN: best epoch %d of %d, %.0f events/s",
            info["best_epoch"],
            info["epochs_run"],
            info["events_per_second"],
        )
        curves = split_curves(info["history"], info["auc_history"])
        keep = ("best_epoch", "epochs_run", "train_seconds", "events_per_second")
        return Fitted(net, curves, best_step=info["best_epoch"], info={k: info[k] for k in keep})

    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The logit as ``score`` and its sigmoid as ``proba``."""
        return margin_frame(
            frame.index, TorchClassifier(fitted.model).decision_function(frame[list(columns)])
        )

    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """The state dict (on the CPU)."""
        torch.save(fitted.model.cpu().state_dict(), path)

    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """The pytorch flavour, with the library's code and the pinned torch."""
        from mlhep.tracking.models import log_pytorch

        return log_pytorch(fitted.model, example)

    @staticmethod
    def load(path: str | os.PathLike[str], n_inputs: int, settings: Mapping[str, Any]) -> MLP:
        """A saved network, rebuilt from its settings (for the studies)."""
        net = build(n_inputs, settings)
        net.load_state_dict(torch.load(path, weights_only=True))
        net.eval()
        return net


#: The trainers of this family by model name.
TRAINERS: dict[str, Trainer] = {"ann": AnnTrainer()}
