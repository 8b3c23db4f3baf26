"""BDT (XGBoost), ANN (PyTorch) and the studies built on them, on small synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mlhep import studies
from mlhep.config import validate_config
from mlhep.models import ann, bdt
from mlhep.models.base import resolve_device

COLUMNS = ["a", "b", "noise"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    a = rng.normal(0, 1, n) + 1.0 * label
    b = rng.normal(0, 1, n) * np.where(label == 1, 0.6, 1.4)  # needs a non-linear cut
    return pd.DataFrame(
        {
            "event_id": np.arange(n),
            "label": label,
            "weight": 1.0,
            "a": a,
            "b": b,
            "noise": rng.normal(0, 1, n),
        }
    )


@pytest.fixture(scope="module")
def settings() -> dict:
    config: dict = {}
    validate_config(config)
    return config["models"]


def test_balanced_weights() -> None:
    y = np.array([1, 0, 0, 0])
    w = bdt.balanced_weights(y)
    assert w[y == 1].sum() == pytest.approx(w[y == 0].sum()) and w.mean() == pytest.approx(1.0)


def test_bdt_stops_early_and_shap_adds_up(settings: dict) -> None:
    s = {**settings["bdt"], "max_depth": 8, "learning_rate": 0.3, "early_stopping_rounds": 10}
    train, val = _frame(3000, 1), _frame(2000, 2)
    booster, info = bdt.train(train, val, COLUMNS, s, threads=1, seed=0)
    assert info["best_iteration"] < info["n_trees_boosted"] - 1 < s["n_estimators"]
    assert booster.num_boosted_rounds() == info["best_iteration"] + 1
    val_loss = info["history"]["validation"]
    assert min(val_loss) == val_loss[info["best_iteration"]]
    values, base = bdt.shap_values(booster, val, COLUMNS)
    np.testing.assert_allclose(
        base + values.sum(axis=1), bdt.scores(booster, val, COLUMNS), rtol=1e-4, atol=1e-4
    )
    ranking = studies.shap_ranking(values, COLUMNS)
    assert ranking["feature"].iloc[-1] == "noise"
    again, _ = bdt.train(train, val, COLUMNS, s, threads=1, seed=0)
    np.testing.assert_array_equal(
        bdt.scores(again, val, COLUMNS), bdt.scores(booster, val, COLUMNS)
    )


def _ann_settings(settings: dict, **changes: object) -> dict:
    return {
        **settings["ann"],
        "layers": 2,
        "width": 16,
        "epochs": 6,
        "min_epochs": 2,
        "patience": 2,
        "batch_size": 256,
        **changes,
    }


def test_ann_is_bit_identical_on_cpu_and_learns(settings: dict) -> None:
    train, val = _frame(4000, 3), _frame(2000, 4)
    s = _ann_settings(settings)
    cpu = torch.device("cpu")
    net1, info1 = ann.train(train, val, COLUMNS, s, cpu, threads=1, seed=5)
    net2, info2 = ann.train(train, val, COLUMNS, s, cpu, threads=1, seed=5)
    for p1, p2 in zip(net1.state_dict().values(), net2.state_dict().values(), strict=True):
        assert torch.equal(p1, p2)
    assert info1["history"] == info2["history"]
    assert info1["auc_history"]["validation"][-1] > 0.75
    # standardisation lives in the network: raw inputs in, training statistics stored
    np.testing.assert_allclose(
        net1.mean.numpy(), train[COLUMNS].mean().to_numpy(), rtol=1e-4, atol=1e-5
    )
    net3, _ = ann.train(train, val, COLUMNS, s, cpu, threads=1, seed=6)
    assert not torch.equal(next(net1.parameters()), next(net3.parameters()))


def test_ann_restores_best_epoch_after_early_stop(settings: dict) -> None:
    train, val = _frame(600, 5), _frame(600, 6)
    # a big network on few events overfits: validation loss rises, training stops early
    s = _ann_settings(
        settings,
        width=128,
        layers=3,
        epochs=60,
        min_epochs=5,
        patience=3,
        learning_rate=0.01,
        schedule="constant",
        weight_decay=0.0,
        batch_size=32,
    )
    net, info = ann.train(train, val, COLUMNS, s, torch.device("cpu"), threads=1, seed=0)
    assert info["epochs_run"] < 60
    assert info["epochs_run"] - info["best_epoch"] == 3
    clf = ann.TorchClassifier(net).fit(None, None)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.as_tensor(clf.decision_function(val[COLUMNS])),
        torch.as_tensor(val["label"].to_numpy(float)),
    )
    assert float(loss) == pytest.approx(min(info["history"]["validation"]), rel=1e-5)


def test_device_resolution() -> None:
    assert resolve_device("cpu", gpu_capable=True) == "cpu"
    cuda = torch.cuda.is_available()
    assert resolve_device("auto", gpu_capable=True) == ("cuda" if cuda else "cpu")
    assert resolve_device("cuda", gpu_capable=False) == "cpu"  # a model without GPU support
    if not cuda:
        with pytest.raises(RuntimeError, match="'device' is 'cuda'"):
            resolve_device("cuda", gpu_capable=True)


def test_permutation_importance_and_ensemble_summary(settings: dict) -> None:
    train, val, test = _frame(3000, 7), _frame(1000, 8), _frame(2000, 9)
    net, _ = ann.train(train, val, COLUMNS, _ann_settings(settings), torch.device("cpu"), 1, 0)
    clf = ann.TorchClassifier(net).fit(None, None)
    table = studies.importance_table(clf, test, COLUMNS, repeats=3, seed=0)
    assert table["feature"].iloc[0] == "a" and table["feature"].iloc[-1] == "noise"
    assert abs(table.set_index("feature").loc["noise", "auc_drop"]) < 0.01
    rng = np.random.default_rng(0)
    probs = np.clip(rng.normal(0.5, 0.1, (3, 100)), 0, 1)
    labels = rng.integers(0, 2, 100)
    summary = studies.ensemble_summary(labels, probs)
    assert summary["members"] == 3 and len(summary["member_auc"]) == 3
    assert summary["mean_spread"] == pytest.approx(probs.std(axis=0, ddof=1).mean())
