"""The one PyTorch training loop (:mod:`mlhep.models.torch_loop`): early stopping with
patience after ``min_epochs``, the best weights restored (or the last kept), every row
once per epoch, the scheduler stepped per batch, and bit-identical runs for a seed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch
from torch import nn

from mlhep.models.torch_loop import BestState, LoopResult, Stopping, TorchLoop

N_ROWS, BATCH = 40, 16


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_ROWS, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(N_ROWS, generator=g)


def _run(
    stopping: Stopping,
    scripted: Sequence[float] | None = None,
    seed: int = 0,
    snapshots: list[dict[str, torch.Tensor]] | None = None,
    seen: list[torch.Tensor] | None = None,
    scheduler: bool = False,
) -> tuple[nn.Module, LoopResult, torch.optim.Optimizer]:
    """A linear regression trained by the loop; the validation metric is ``scripted`` (one
    value per epoch) where given, else the real validation loss."""
    loop = TorchLoop("cpu", threads=1, seed=seed)
    model = nn.Linear(3, 1)  # built after the loop: its initialisation is seeded
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = _data()
    epoch = iter(range(10_000))

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:
        if seen is not None:
            seen.append(rows.clone())
        return ((model(x[rows]).squeeze(-1) - y[rows]) ** 2).mean()

    def validate() -> dict[str, float]:
        if snapshots is not None:
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        k = next(epoch)
        with torch.no_grad():
            real = float(((model(x).squeeze(-1) - y) ** 2).mean())
        return {"validation_loss": scripted[k] if scripted is not None else real, "real": real}

    schedule = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5) if scheduler else None
    result = loop.run(
        model, optimizer, batch_loss, validate, N_ROWS, BATCH, stopping, scheduler=schedule
    )
    return model, result, optimizer


def test_stops_after_patience_epochs_without_improvement() -> None:
    scripted = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 9.0, 9.0]
    _, result, _ = _run(Stopping(epochs=9, patience=3), scripted)
    # best at epoch 3; epochs 4, 5 and 6 bring nothing better: stop after 6
    assert result.best_epoch == 3 and result.epochs_run == 6
    assert result.curves["validation_loss"] == scripted[:6]
    assert len(result.curves["train_loss"]) == len(result.curves["real"]) == 6


def test_min_epochs_holds_early_stopping_back() -> None:
    scripted = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    _, early, _ = _run(Stopping(epochs=8, patience=2), scripted)
    assert early.epochs_run == 3  # epoch 1 best, two more epochs without improvement
    _, held, _ = _run(Stopping(epochs=8, patience=2, min_epochs=6), scripted)
    assert held.best_epoch == 1 and held.epochs_run == 6
    _, full, _ = _run(Stopping(epochs=8, patience=2, min_epochs=8), scripted)
    assert full.epochs_run == 8


def test_best_weights_restored_or_last_kept() -> None:
    scripted = [3.0, 1.0, 2.0, 2.5, 2.7]
    snapshots: list[dict[str, torch.Tensor]] = []
    model, result, _ = _run(Stopping(epochs=5, patience=10), scripted, snapshots=snapshots)
    assert result.best_epoch == 2 and result.epochs_run == 5 and not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][key])
        assert torch.equal(result.best_state[key], snapshots[1][key])
    assert not torch.equal(model.weight, snapshots[-1]["weight"])  # training moved on
    snapshots.clear()
    last, kept, _ = _run(
        Stopping(epochs=5, patience=10, keep_best=False), scripted, snapshots=snapshots
    )
    assert kept.best_epoch == 2  # still reported, not restored
    for key, value in last.state_dict().items():
        assert torch.equal(value, snapshots[-1][key])


def test_a_metric_never_finite_keeps_the_last_weights() -> None:
    nan = math.nan
    snapshots: list[dict[str, torch.Tensor]] = []
    model, result, _ = _run(Stopping(epochs=6, patience=2), [nan] * 6, snapshots=snapshots)
    assert result.best_epoch == 0 and result.best_state is None and result.epochs_run == 2
    assert torch.equal(model.weight, snapshots[-1]["weight"])


def test_same_seed_same_result_and_every_row_once_per_epoch() -> None:
    seen: list[torch.Tensor] = []
    first, a, _ = _run(Stopping(epochs=4, patience=4), seed=3, seen=seen)
    second, b, _ = _run(Stopping(epochs=4, patience=4), seed=3)
    other, c, _ = _run(Stopping(epochs=4, patience=4), seed=4)
    assert a.curves == b.curves and a.best_epoch == b.best_epoch
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])
    assert not torch.equal(first.weight, other.weight) and a.curves != c.curves
    assert a.curves["real"][-1] < a.curves["real"][0]  # it learns
    per_epoch = math.ceil(N_ROWS / BATCH)
    assert len(seen) == 4 * per_epoch
    epochs = [torch.cat(seen[i : i + per_epoch]) for i in range(0, len(seen), per_epoch)]
    for rows in epochs:
        assert sorted(rows.tolist()) == list(range(N_ROWS))
    assert not torch.equal(epochs[0], epochs[1])  # a fresh order each epoch
    # the order is drawn from the loop's own stream, seeded with the seed (not the global
    # one, which the weights' initialisation consumed): the trainers' results depend on it
    stream = torch.Generator().manual_seed(3)
    assert torch.equal(epochs[0], torch.randperm(N_ROWS, generator=stream))
    assert torch.equal(epochs[1], torch.randperm(N_ROWS, generator=stream))


def test_scheduler_steps_once_per_batch() -> None:
    _, result, optimizer = _run(Stopping(epochs=2, patience=5), scheduler=True)
    steps = result.epochs_run * math.ceil(N_ROWS / BATCH)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5**steps)


def test_stopping_from_settings() -> None:
    assert Stopping.from_settings({"epochs": 9, "patience": 2}) == Stopping(9, 2, 1, True)
    assert Stopping.from_settings({"epochs": 9, "patience": 2, "min_epochs": 4}).min_epochs == 4
    # the studies' "train every epoch, keep the last"
    assert Stopping.from_settings(
        {"epochs": 9, "patience": 2, "min_epochs": 4, "early_stopping": False}
    ) == Stopping(9, 2, 9, keep_best=False)


def test_best_state_keeps_the_lowest_value() -> None:
    model, best = nn.Linear(2, 1), BestState()
    assert not best.restore(model)
    assert best.update(2.0, 1, model) and not best.update(2.0, 2, model)
    assert not best.update(math.nan, 3, model)
    kept = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not torch.equal(model.weight, kept)  # the copy is not a view
    assert best.restore(model) and torch.equal(model.weight, kept) and best.step == 1
