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
    # each event's values are its own: the job's thread count does not change them
    np.testing.assert_array_equal(bdt.shap_values(booster, val, COLUMNS, threads=2)[0], values)
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
    assert info1["curves"] == info2["curves"]
    assert info1["curves"]["validation_auc"][-1] > 0.75
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
    assert float(loss) == pytest.approx(min(info["curves"]["validation_loss"]), rel=1e-5)


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
    # the same through the trainer contract, which any classifier family offers
    from mlhep.models import get_trainer
    from mlhep.models.base import Fitted

    generic = get_trainer("ann").classifier(Fitted(net), COLUMNS)
    pd.testing.assert_frame_equal(
        studies.importance_table(generic, test, COLUMNS, repeats=3, seed=0), table
    )
    rng = np.random.default_rng(0)
    centre = rng.uniform(0.2, 0.8, 100)
    labels = rng.integers(0, 2, 100)
    # three members at centre - d, centre, centre + d: their sample standard deviation is d
    # for every event, so the ensemble's spread is known without the formula
    d = np.linspace(0.01, 0.1, 100)
    probs = np.stack([centre - d, centre, centre + d])
    summary = studies.ensemble_summary(labels, probs)
    assert summary["members"] == 3 and len(summary["member_auc"]) == 3
    assert summary["mean_spread"] == pytest.approx(0.055)  # the mean of d


def test_bdt_through_the_trainer_contract(settings: dict) -> None:
    from mlhep.models import get_trainer
    from mlhep.models.base import FitContext

    trainer = get_trainer("bdt")
    train, val = _frame(2000, 10), _frame(1000, 11)
    s = {**settings["bdt"], "n_estimators": 25, "early_stopping_rounds": 3, "learning_rate": 0.5}
    fitted = trainer.fit({"train": train, "validation": val}, COLUMNS, s, FitContext(seed=1))
    # probabilities are XGBoost's own (float32), the float64 sigmoid of the margin beside them
    p = trainer.probabilities(fitted, val, COLUMNS)
    np.testing.assert_array_equal(p, fitted.model.predict(bdt.dmatrix(val, COLUMNS)))
    np.testing.assert_allclose(p, trainer.predict(fitted, val, COLUMNS)["proba"], atol=1e-6)
    assert trainer.has_shap
    values, base = trainer.shap_values(fitted, val, COLUMNS)
    np.testing.assert_allclose(
        base + values.sum(axis=1), trainer.predict(fitted, val, COLUMNS)["score"], atol=1e-4
    )
    # without early stopping every tree is boosted and kept (the capacity studies)
    full = trainer.fit(
        {"train": train, "validation": val},
        COLUMNS,
        {**s, "early_stopping": False},
        FitContext(seed=1),
    )
    assert full.model.num_boosted_rounds() == 25 == full.best_step
    assert len(full.curves["validation_loss"]) == 25 > fitted.best_step


def test_ann_probabilities_and_no_contributions(settings: dict) -> None:
    from mlhep.models import get_trainer
    from mlhep.models.base import FitContext

    trainer = get_trainer("ann")
    train, val = _frame(1000, 12), _frame(500, 13)
    fitted = trainer.fit(
        {"train": train, "validation": val}, COLUMNS, _ann_settings(settings), FitContext(0)
    )
    outputs = trainer.predict(fitted, val, COLUMNS)
    np.testing.assert_array_equal(trainer.probabilities(fitted, val, COLUMNS), outputs["proba"])
    assert not trainer.has_shap
    with pytest.raises(NotImplementedError, match="no per-feature contributions"):
        trainer.shap_values(fitted, val, COLUMNS)
    assert fitted.info["parameters"] == sum(p.numel() for p in fitted.model.parameters())
    assert len(fitted.curves["train_eval_loss"]) == fitted.info["epochs_run"]


def test_ann_without_early_stopping_keeps_the_last_epoch(settings: dict) -> None:
    from mlhep.models import get_trainer
    from mlhep.models.base import FitContext

    train, val = _frame(600, 5), _frame(600, 6)
    s = _ann_settings(
        settings,
        width=128,
        layers=3,
        epochs=12,
        min_epochs=2,
        patience=2,
        learning_rate=0.01,
        schedule="constant",
        weight_decay=0.0,
        batch_size=32,
    )
    trainer = get_trainer("ann")
    splits = {"train": train, "validation": val}
    stopped = trainer.fit(splits, COLUMNS, s, FitContext(0))
    assert stopped.info["epochs_run"] < 12  # it overfits: early stopping acts
    fitted = trainer.fit(splits, COLUMNS, {**s, "early_stopping": False}, FitContext(0))
    curve = fitted.curves["validation_loss"]
    assert fitted.info["epochs_run"] == len(curve) == 12 and fitted.best_step < 12
    # the same run up to where early stopping acted, then on; the last weights are kept
    assert curve[: len(stopped.curves["validation_loss"])] == stopped.curves["validation_loss"]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(trainer.predict(fitted, val, COLUMNS)["score"].to_numpy()),
        torch.as_tensor(val["label"].to_numpy(float)),
    )
    assert float(loss) == pytest.approx(curve[-1], rel=1e-5)
    assert float(loss) > min(curve)


def test_ensemble_studies_are_data_and_train_through_the_trainer(settings: dict) -> None:
    from mlhep.stages.model_studies import ModelStudiesStage
    from mlhep.studies.ensembles import (
        EnsembleStudy,
        member_settings,
        train_ensemble,
        training_prior,
    )

    spec = ModelStudiesStage.ensemble_spec
    deep, boot = (EnsembleStudy.from_spec(spec(n)) for n in ("ensemble", "bdt_bootstrap"))
    assert (deep.model, deep.bootstrap, deep.seed_offset) == ("ann", False, 1000)
    assert (boot.model, boot.bootstrap, boot.seed_offset) == ("bdt", True, 2000)
    ann_settings = member_settings(deep, settings["ann"], {"members": 3, "epochs": 4})
    assert ann_settings["epochs"] == 4 and ann_settings["min_epochs"] == 4
    bdt_settings = {**settings["bdt"], "n_estimators": 20, "early_stopping_rounds": 3}
    assert member_settings(boot, bdt_settings, {"members": 3}) == bdt_settings
    splits = {"train": _frame(800, 14), "validation": _frame(400, 15), "test": _frame(300, 16)}
    skewed = splits["train"].iloc[:600]
    assert training_prior(boot, skewed) == 0.0  # class-balanced: prior 1:1
    n_s = int(skewed["label"].sum())
    assert training_prior(deep, skewed) == pytest.approx(np.log(n_s / (600 - n_s)))
    members = train_ensemble(boot, splits, COLUMNS, bdt_settings, 3, seed=7)
    assert members.shape == (3, 300) and members.dtype == np.float32
    assert not np.array_equal(members[0], members[1])  # different resamples
    again = train_ensemble(boot, splits, COLUMNS, bdt_settings, 3, seed=7)
    np.testing.assert_array_equal(members, again)
