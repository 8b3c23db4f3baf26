"""The generalization studies' library: the pulse, polynomial fits, the double-descent
theory against simulation, the grids and the choice on validation, the config checks."""

from __future__ import annotations

import copy
import itertools
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from mlhep.config import ConfigError, load_config, validate_config
from mlhep.data.pulse import crrc_pulse, noisy_pulse
from mlhep.models.base import FitContext
from mlhep.plan import Plan
from mlhep.studies.generalization import (
    STUDIES,
    choose,
    grid_points,
    point_frame,
    point_name,
    selection_rows,
)
from mlhep.studies.generalization import double_descent as dd
from mlhep.studies.generalization import polynomial as poly

PULSE = {
    "amplitude": 1.0,
    "t0": 0.0,
    "peaking_time": 25.0,
    "order": 2,
    "window": [-25.0, 175.0],
    "noise": 0.05,
    "n_train": 30,
    "n_validation": 30,
    "n_test": 2000,
}


# --- the pulse ----------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 4])
def test_crrc_pulse_peaks_at_the_peaking_time_and_starts_at_t0(order: int) -> None:
    t = np.linspace(-50, 300, 35001)
    f = crrc_pulse(t, amplitude=3.0, t0=10.0, peaking_time=25.0, order=order)
    assert t[np.argmax(f)] == pytest.approx(35.0, abs=0.02)
    assert f.max() == pytest.approx(3.0, rel=1e-9)
    assert np.all(f[t <= 10.0] == 0) and np.all(f[t > 10.0] > 0)


def test_noisy_pulse_is_seeded_and_has_the_configured_noise() -> None:
    a = noisy_pulse(20000, (-25, 175), 0.2, np.random.default_rng(1))
    b = noisy_pulse(20000, (-25, 175), 0.2, np.random.default_rng(1))
    np.testing.assert_array_equal(a.y, b.y)
    assert np.all(np.diff(a.t) >= 0) and a.t.min() >= -25 and a.t.max() <= 175
    assert np.std(a.y - a.truth) == pytest.approx(0.2, rel=0.03)
    with pytest.raises(ValueError, match="window"):
        noisy_pulse(5, (1.0, 1.0), 0.1, np.random.default_rng(0))


# --- polynomials ----------------------------------------------------------------------------------
def test_legendre_design_keeps_degree_20_well_conditioned() -> None:
    data = poly.pulse_splits(PULSE, 42)
    legendre = poly.extend(poly.design(data.train.t, 20, data.window))
    u = poly.scaled_time(data.train.t, data.window)
    monomial = np.vander(u, 21, increasing=True)
    assert np.linalg.cond(legendre.T @ legendre) < 1e8  # the normal equations' limit
    assert np.linalg.cond(monomial.T @ monomial) > 1e12  # what the basis avoids


def test_polynomial_recovers_a_polynomial_and_training_error_falls_with_degree() -> None:
    data = poly.pulse_splits({**PULSE, "noise": 0.05}, 3)
    cubic = poly.PulseSamples(
        data.train.t, 0.3 + 0.01 * data.train.t - 1e-4 * data.train.t**2, data.train.truth
    )
    assert poly.mse(poly.fit_ridge(cubic, 3, data.window), cubic, data.window) < 1e-20
    train = [
        poly.mse(poly.fit_ridge(data.train, d, data.window), data.train, data.window)
        for d in range(0, 21)
    ]
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(train))  # nested models
    test = [
        poly.mse(poly.fit_ridge(data.train, d, data.window), data.test, data.window)
        for d in range(0, 21)
    ]
    best = int(np.argmin(test))
    assert 3 < best < 20 and test[20] > 3 * test[best]  # under- and over-fitting on either side


def test_ridge_shrinks_and_lasso_sparsifies() -> None:
    data = poly.pulse_splits(PULSE, 42)
    norms = [
        np.linalg.norm(poly.fit_ridge(data.train, 20, data.window, lam)[1:])
        for lam in (0.0, 1e-4, 1e-2, 1.0, 1e3)
    ]
    assert norms == sorted(norms, reverse=True) and norms[-1] < 1e-2 * norms[0]
    nonzero = [
        np.count_nonzero(poly.fit_lasso(data.train, 20, data.window, a)[1:])
        for a in (1e-6, 1e-3, 1e-1)
    ]
    assert nonzero[0] > nonzero[1] > nonzero[2]
    assert poly.kfold_mse(poly.pooled(data.train, data.validation), 5, data.window, 5, 0) > 0


@pytest.mark.parametrize(("n", "folds", "seed"), [(10, 2, 0), (37, 5, 3), (120, 7, 11), (5, 5, 1)])
def test_kfold_splits_are_scikit_learns(n: int, folds: int, seed: int) -> None:
    from sklearn.model_selection import KFold

    ours = list(poly.kfold_splits(n, folds, seed))
    theirs = list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n)))
    assert len(ours) == len(theirs) == folds
    for (fit, held), (fit_ref, held_ref) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(fit, fit_ref)
        np.testing.assert_array_equal(held, held_ref)
    with pytest.raises(ValueError, match="cannot split 3 samples into 4 folds"):
        list(poly.kfold_splits(3, 4, seed))


def test_polynomial_points_share_their_samples() -> None:
    settings = {"pulse": PULSE, "folds": 3, "degree": 20}
    a = poly.degree_point(settings, {"degree": 4}, None, FitContext(5))
    b = poly.degree_point(settings, {"degree": 9}, None, FitContext(5))
    assert a["samples"] == b["samples"] and a["train_mse"] > b["train_mse"]
    assert a["noise_variance"] == pytest.approx(0.0025)
    assert poly.ridge_point(settings, {"penalty": 0.0}, None, FitContext(5))["train_mse"] < 0.01


# --- double descent -------------------------------------------------------------------------------
def test_minimum_norm_theory_reproduces_the_published_values() -> None:
    ratio = np.array([0.5, 0.9, 1.2, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(
        dd.minimum_norm_risk(ratio, 1.0, 1.0), [1.0, 9.0, 5.1667, 1.5, 1.0833, 1.0179], rtol=1e-3
    )
    assert dd.finite_n_risk(180, 200, 1.0, 1.0) == pytest.approx(9.47, abs=0.01)
    assert np.isinf(dd.minimum_norm_risk(1.0, 1.0, 1.0))


def test_ridge_theory_tends_to_min_norm_and_is_smallest_at_lambda_star() -> None:
    for gamma in (0.5, 2.0, 4.0):
        assert dd.ridge_risk(gamma, 1e-8, 1.0, 1.0) == pytest.approx(
            float(dd.minimum_norm_risk(gamma, 1.0, 1.0)), rel=1e-5
        )
        star = dd.optimal_ridge_penalty(gamma, 2.0, 0.5)
        best = dd.ridge_risk(gamma, star, 2.0, 0.5)
        assert all(dd.ridge_risk(gamma, star * f, 2.0, 0.5) > best for f in (0.5, 0.9, 1.1, 2.0))
    m, dm = dd.marchenko_pastur_stieltjes(-0.3, 0.7)
    h = 1e-6
    assert dm == pytest.approx((dd.marchenko_pastur_stieltjes(-0.3 + h, 0.7)[0] - m) / h, rel=1e-4)


@pytest.mark.parametrize("ratio", [0.5, 2.0, 4.0])
def test_simulated_risk_agrees_with_the_theory(ratio: float) -> None:
    out = dd.simulate_isotropic(200, int(ratio * 200), 1.0, 1.0, 30, seed=1)
    for fit, theory in (("minimum_norm", "theory_finite_n"), ("ridge", "theory_ridge")):
        assert (
            abs(out[f"{fit}_risk"] - out[theory])
            < 4 * out[f"{fit}_risk_error"] + 0.03 * out[theory]
        )
    assert out["ridge_risk"] < out["minimum_norm_risk"]


def test_random_features_interpolate_beyond_p_equals_n() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 4))
    y = (x[:, 0] + 0.5 * rng.standard_normal(300) > 0).astype(float)
    held = {"test": (x[:100] + 0.1, y[:100])}
    under = dd.random_feature_fit((x[:100], y[:100]), held, 50, 1, np.array([1e-3]))
    over = dd.random_feature_fit((x[:100], y[:100]), held, 400, 1, np.array([1e-3]))
    assert over["minimum_norm/train_mse"] < 1e-12 < under["minimum_norm/train_mse"]
    assert over["ridge_0.001/train_mse"] > 0


# --- grids, choices, the registry -----------------------------------------------------------------
def test_grid_points_are_the_product_of_the_axes_named_like_paramspace() -> None:
    points = grid_points("bdt_capacity", {"max_depth": [1, 3], "n_estimators": [10, 100]})
    assert list(points) == [
        "max_depth~1_n_estimators~10",
        "max_depth~1_n_estimators~100",
        "max_depth~3_n_estimators~10",
        "max_depth~3_n_estimators~100",
    ]
    assert point_name({"penalty": 1e-05}) == "penalty~1e-05"
    with pytest.raises(ValueError, match=r"polynomial_ridge\.penalty"):
        grid_points("polynomial_ridge", {"penalty": [0.1, 0.1]})


def test_choice_is_made_on_validation_per_group_and_reports_the_test_gap() -> None:
    results = [
        {
            "name": f"m{m}_n{n}",
            "point": {"model": m, "n_train": n},
            "result": {"validation_auc": v, "train_auc": tr, "test_auc": te},
        }
        for m, n, v, tr, te in [
            ("a", 10, 0.7, 0.9, 0.95),
            ("a", 100, 0.8, 0.85, 0.6),
            ("b", 10, 0.75, 0.8, 0.7),
            ("b", 100, 0.74, 0.99, 0.99),
        ]
    ]
    chosen = choose("learning_curve", point_frame(results))
    assert list(chosen["point"]) == ["ma_n100", "mb_n10"]  # the test AUC played no part
    rows = selection_rows("learning_curve", chosen)
    assert rows[0]["chosen"] == "model = a, n_train = 100"
    assert rows[0]["gap"] == pytest.approx(0.85 - 0.6) and rows[1]["test"] == 0.7
    mse = point_frame(
        [
            {
                "name": "d1",
                "point": {"degree": 1},
                "result": {"validation_mse": 2.0, "train_mse": 1.0, "test_mse": 3.0},
            },
            {
                "name": "d2",
                "point": {"degree": 2},
                "result": {"validation_mse": 1.0, "train_mse": 0.5, "test_mse": 1.5},
            },
        ]
    )
    assert selection_rows("polynomial_degree", choose("polynomial_degree", mse))[0]["gap"] == 1.0


def test_every_study_has_a_runner_and_a_figure() -> None:
    for entry in STUDIES.values():
        assert callable(entry.run()) and callable(entry.draw())


# --- the plan and the config ----------------------------------------------------------------------
def test_a_new_grid_value_leaves_every_other_point_unchanged(repo) -> None:
    base = load_config(repo / "config/config.yaml")
    grown = copy.deepcopy(base)
    grown["studies"]["generalization"]["bdt_capacity"]["n_estimators"].append(300)
    before, after = Plan(base).stage("generalization"), Plan(grown).stage("generalization")
    old, new = before.points("bdt_capacity"), after.points("bdt_capacity")
    assert set(new) - set(old) == {f"max_depth~{d}_n_estimators~300" for d in (1, 3, 6, 10)}
    for name in old:
        assert before.settings("bdt_capacity", name) == after.settings("bdt_capacity", name)
    # a learning-curve point depends on its own model's settings only
    ann_point = before.settings("learning_curve", "model~ann_n_train~100")
    assert "width" in ann_point["model"] and "max_depth" not in ann_point["model"]
    grown["models"]["bdt"]["learning_rate"] = 0.3
    after = Plan(grown).stage("generalization")
    assert after.settings("learning_curve", "model~ann_n_train~100") == ann_point


def test_the_chosen_model_settings_leave_out_the_swept_keys(repo) -> None:
    plan = Plan(load_config(repo / "config/config.yaml"))
    settings = plan.stage("generalization").settings("bdt_capacity", "max_depth~3_n_estimators~100")
    assert "max_depth" not in settings["model"] and settings["columns"] == plan.columns(
        "dimuon", "high"
    )
    assert plan.stage("generalization").inputs("polynomial_degree") == {
        "experiments": "results/mlflow/experiments.json"
    }
    assert set(plan.stage("generalization").inputs("ann_capacity")) == {
        "experiments",
        "train",
        "validation",
        "test",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bdt_capacity": {"features": "nope"}}, "bdt_capacity.features': dataset 'dimuon' has no"),
        ({"learning_curve": {"model": ["logistic", "lasso"]}}, "learning_curve.model': 'lasso'"),
        ({"double_descent": {"ratio": [0.5, 0.5]}}, "double_descent.ratio': repeated"),
        ({"dataset": "elsewhere"}, "generalization.dataset': no dataset 'elsewhere'"),
        ({"polynomial_degree": {"degree": [-1]}}, "polynomial_degree.degree"),
    ],
)
def test_bad_generalization_config_names_the_key(repo, change: dict, message: str) -> None:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    section = config.setdefault("studies", {}).setdefault("generalization", {})
    for key, value in change.items():
        if isinstance(value, dict):
            section.setdefault(key, {}).update(value)
        else:
            section[key] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_switching_the_studies_off_empties_the_section(repo) -> None:
    config = load_config(repo / "config/config.yaml")
    config["studies"]["generalization"]["activate"] = False
    plan = Plan(config)
    assert (
        plan.stage("generalization").studies() == [] and plan.manifest()["generalization"] is None
    )
    assert "studies.generalization.activate" in plan.status()["generalization"]
    assert "generalization" in plan.experiments()  # the store's rule does not change
    assert not any("generalization" in p for p in plan.outputs())


def test_learning_curve_point_of_a_model_without_probabilities() -> None:
    from mlhep.studies.generalization.dimuon import learning_curve_point

    rng = np.random.default_rng(0)

    def frame(n: int) -> pd.DataFrame:
        x = rng.standard_normal((n, 2))
        return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": (x[:, 0] > 0).astype(int)})

    splits = {"train": frame(400), "validation": frame(200), "test": frame(200)}
    settings = {
        "columns": ["a", "b"],
        "min_steps": 10,
        "study": "learning_curve",
        "model": {"learning_rate": 0.01, "epochs": 5, "init": "zeros", "pocket": True},
    }
    out = learning_curve_point(
        settings, {"model": "perceptron", "n_train": 300}, splits, FitContext(1)
    )
    assert out["test_auc"] > 0.95 and np.isnan(out["test_loss"])
    with pytest.raises(ValueError, match=re.escape("learning_curve.n_train': 500 training events")):
        learning_curve_point(
            settings, {"model": "perceptron", "n_train": 500}, splits, FitContext(1)
        )


def test_divergence_finds_where_early_stopping_would_stop() -> None:
    from mlhep import report
    from mlhep.studies.generalization import divergence, overfit_findings

    point = {
        "point": {"n_train": 10},
        "result": {
            "curves": {"validation_loss": [1.0, 0.5, 0.7, 2.0], "train_loss": [1.0, 0.4, 0.2, 0.01]}
        },
    }
    found = divergence(point)
    assert found["min_validation_epoch"] == 2 and found["train_loss_there"] == 0.4
    assert found["final_validation_loss"] == 2.0 and found["epochs"] == 4
    findings = overfit_findings(None, [point])
    assert findings["divergence"] == [found]
    caption = report.generalization_caption({"selection": [], **findings})
    assert "least at epoch 2 of 4" in caption


def test_a_new_grid_value_of_a_cheap_study_changes_one_job_only(repo) -> None:
    base = load_config(repo / "config/config.yaml")
    grown = copy.deepcopy(base)
    grown["studies"]["generalization"]["polynomial_degree"]["degree"].append(25)
    before = Plan(base).stage("generalization")
    after = Plan(grown).stage("generalization")
    old, new = before.chunks("polynomial_degree"), after.chunks("polynomial_degree")
    assert len(old) == base["studies"]["generalization"]["chunks"] == 2
    changed = [c for c in new if new[c] != old.get(c)]
    assert changed == [after.chunk_of("degree~25")]
    assert sorted(n for names in new.values() for n in names) == sorted(
        after.points("polynomial_degree")
    )
    for chunk in old:  # every job's params other than its points stay as they were
        assert before.chunk_settings("polynomial_degree", chunk) == after.chunk_settings(
            "polynomial_degree", chunk
        )
    assert before.result_files("polynomial_degree") == [
        f"results/studies/generalization/polynomial_degree/chunks/{c}.json" for c in (0, 1)
    ]
    assert before.result_files("bdt_capacity")[0].endswith(
        "points/max_depth~1_n_estimators~10.json"
    )
    # a chunked study's points start from no model's settings (they would differ by point)
    assert all(e.model is None and "model" not in e.axes for e in STUDIES.values() if e.chunked)
    # a study's points share jobs (cheap, on CPUs) or have one each (on a GPU where there
    # is one): the two rules that run points
    assert all(e.chunked != e.gpu for e in STUDIES.values())


def test_point_records_come_back_in_grid_order_from_points_and_chunks(tmp_path) -> None:
    from mlhep import io
    from mlhep.studies.generalization.tracking import point_records

    def record(name):
        return {"name": name, "point": {}, "result": {}, "mlflow_run_id": name}

    io.write_json(tmp_path / "0.json", {"points": [record("c"), record("a")]})
    io.write_json(tmp_path / "b.json", record("b"))
    files = [tmp_path / "0.json", tmp_path / "b.json"]
    assert [r["name"] for r in point_records(files, ["a", "b", "c"])] == ["a", "b", "c"]
    with pytest.raises(LookupError, match="'d'"):
        point_records(files, ["a", "d"])
