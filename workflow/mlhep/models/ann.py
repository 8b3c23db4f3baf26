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
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from torch import nn

from mlhep.models.base import FitContext, Fitted, StepHook, Trainer, margin_frame
from mlhep.models.torch_loop import Stopping, TorchLoop

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
    on_step: StepHook | None = None,
) -> tuple[MLP, dict[str, Any]]:
    """Train an :class:`MLP` per ``settings`` (the config section ``models.ann``) with the
    loop of :mod:`mlhep.models.torch_loop`; return it with the best validation-loss weights
    (the last epoch's with ``early_stopping: false``, for the overtraining studies) and the
    per-epoch curves; ``on_step`` sees each epoch's validation metrics.

    Early stopping: after at least ``min_epochs``, stop once the validation loss has not
    improved for ``patience`` epochs (the plateau before the network learns the dimuon mass
    must not trigger it, hence the minimum).
    """
    loop = TorchLoop(device, threads, seed)
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
    # the training AUC per epoch is measured on a fixed subsample (cheap, still unbiased)
    monitor = np.random.default_rng(seed).permutation(len(x))[:TRAIN_AUC_EVENTS]
    monitor_index = torch.as_tensor(monitor, device=device)
    x_monitor, y_monitor = x[monitor_index], y[monitor_index].cpu().numpy()

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:
        return loss_fn(model(x[rows]), y[rows])

    def validate() -> dict[str, float]:
        val_logits = logits(model, x_val)
        monitor_logits = logits(model, x_monitor)
        monitor_t = torch.as_tensor(monitor_logits, device=device).float()
        return {
            "validation_loss": float(
                loss_fn(torch.as_tensor(val_logits, device=device).float(), y_val_t)
            ),
            "train_auc": float(roc_auc_score(y_monitor, monitor_logits)),
            "validation_auc": float(roc_auc_score(y_val, val_logits)),
            # the training loss in evaluation mode (no dropout) on the monitored events
            "train_eval_loss": float(loss_fn(monitor_t, y[monitor_index])),
        }

    result = loop.run(
        model,
        optimizer,
        batch_loss,
        validate,
        len(x),
        batch,
        Stopping.from_settings(settings),
        scheduler=scheduler,
        name="ANN",
        on_epoch=on_step,
    )
    info = {
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        # per epoch: train_loss (training mode), validation_loss, train_auc, validation_auc
        # and train_eval_loss (evaluation mode, on the monitored events)
        "curves": result.curves,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_seconds": result.seconds,
        "events_per_second": len(x) * result.epochs_run / result.seconds,
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
            context.on_step,
        )
        log.info(
            "ANN: best epoch %d of %d, %.0f events/s",
            info["best_epoch"],
            info["epochs_run"],
            info["events_per_second"],
        )
        keep = ("best_epoch", "epochs_run", "parameters", "train_seconds", "events_per_second")
        return Fitted(
            net, info["curves"], best_step=info["best_epoch"], info={k: info[k] for k in keep}
        )

    def predict(self, fitted: Fitted, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The logit as ``score`` and its sigmoid as ``proba``."""
        return margin_frame(
            frame.index, TorchClassifier(fitted.model).decision_function(frame[list(columns)])
        )

    def save(self, fitted: Fitted, path: str | os.PathLike[str]) -> None:
        """The state dict (on the CPU)."""
        torch.save(fitted.model.cpu().state_dict(), path)

    def load_model(self, path: str | os.PathLike[str], record: Mapping[str, Any]) -> MLP:
        """The saved network, rebuilt from the record's columns and settings."""
        net = build(len(record["columns"]), record["settings"])
        net.load_state_dict(torch.load(path, weights_only=True))
        net.eval()
        return net

    def log_model(self, fitted: Fitted, example: pd.DataFrame) -> str:
        """The pytorch flavour, with the library's code and the pinned torch."""
        from mlhep.tracking.models import log_pytorch

        return log_pytorch(fitted.model, example)


#: The trainers of this family by model name.
TRAINERS: dict[str, Trainer] = {"ann": AnnTrainer()}
