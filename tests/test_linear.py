"""The lecture's linear classics: perceptron, normal equations, gradient descent."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.linear_model import Perceptron as SkPerceptron

from mlhep.models.linear import (
    GradientDescentLinear,
    Perceptron,
    RankDeficiencyWarning,
    extend,
    linear_loss,
    normal_equations,
)


def iris_setosa_versicolor() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    keep = data.target < 2
    return data.data[keep][:, [0, 2]], data.target[keep]


def test_perceptron_separates_iris_like_scikit_learn() -> None:
    x, y = iris_setosa_versicolor()
    ours = Perceptron(learning_rate=0.1, epochs=20, seed=1).fit(x, y)
    assert ours.errors_[-1] == 0 and ours.errors_[0] > 0
    assert len(ours.errors_) < 20  # stopped once separated
    theirs = SkPerceptron(eta0=0.1, max_iter=100, tol=None, random_state=1).fit(x, y)
    np.testing.assert_array_equal(ours.predict(x), y)
    np.testing.assert_array_equal(theirs.predict(x), y)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    # the score is a separating hyperplane's signed distance (up to scale): every flower on
    # its class's side, and affine in x (midpoints score the mean of their ends)
    score = ours.decision_function(x)
    assert (np.where(y == 1, score, -score) > 0).all()
    mid = ours.decision_function((x[:50] + x[50:]) / 2)
    np.testing.assert_allclose(mid, (score[:50] + score[50:]) / 2, atol=1e-9)


def test_pocket_keeps_the_best_epoch_on_overlapping_classes() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 3000)
    x = rng.normal(0, 1, (3000, 2)) + 0.7 * y[:, None]  # overlapping: never separable
    last = Perceptron(learning_rate=1.0, epochs=15, seed=2).fit(x, y)
    pocket = Perceptron(learning_rate=1.0, epochs=15, seed=2, pocket=True).fit(x, y)
    assert last.errors_ == pocket.errors_ and len(last.errors_) == 15  # same rule, never settles
    best = min(pocket.training_errors_)
    assert (pocket.predict(x) != y).sum() == best
    assert (last.predict(x) != y).sum() == pocket.training_errors_[-1] >= best
    # on separable data the pocket changes nothing
    xi, yi = iris_setosa_versicolor()
    np.testing.assert_array_equal(
        Perceptron(seed=1, pocket=True).fit(xi, yi).weights_,
        Perceptron(seed=1).fit(xi, yi).weights_,
    )


def test_perceptron_rule_by_hand() -> None:
    # one epoch, fixed order: the first sample (label 1, score 0 -> y_hat 1) is right, the
    # second (label 0, score 0 -> y_hat 1) is wrong: w <- w - eta * (1, x)
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    p = Perceptron(learning_rate=0.5, epochs=1, seed=0)
    p.fit(x[[1]], np.array([0]))
    np.testing.assert_allclose(p.weights_, [-0.5, -1.5, 0.5])
    assert p.errors_ == [1]
    random_init = Perceptron(init="random", epochs=1, seed=3).fit(x, np.array([1, 0]))
    assert not np.allclose(random_init.weights_, 0)
    with pytest.raises(ValueError, match="labels 0 and 1"):
        Perceptron().fit(x, np.array([1, -1]))


def _ill_conditioned(n: int = 400, p: int = 5, cond: float = 1e10, seed: int = 0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, p)))
    v, _ = np.linalg.qr(rng.normal(size=(p, p)))
    x = u @ np.diag(np.logspace(0, -np.log10(cond), p)) @ v.T
    y = x @ rng.normal(size=p) + 0.5 + 0.01 * rng.normal(size=n)
    return x, y


def test_normal_equations_equal_lstsq_and_ridge_on_random_design() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 6))
    y = x @ rng.normal(size=6) - 1.3 + rng.normal(size=500)
    w = normal_equations(x, y)
    np.testing.assert_allclose(w, np.linalg.lstsq(extend(x), y, rcond=None)[0], rtol=1e-8)
    sk = LinearRegression().fit(x, y)
    np.testing.assert_allclose(w, [sk.intercept_, *sk.coef_], rtol=1e-8)
    for alpha in (0.1, 10.0):
        ridge = Ridge(alpha=alpha).fit(x, y)
        np.testing.assert_allclose(
            normal_equations(x, y, ridge=alpha), [ridge.intercept_, *ridge.coef_], rtol=1e-8
        )


def test_ill_conditioned_design_falls_back_with_warning() -> None:
    x, y = _ill_conditioned()
    assert np.linalg.cond(extend(x)) > 1e9
    with pytest.warns(RankDeficiencyWarning, match="ill-conditioned"):
        w = normal_equations(x, y)
    np.testing.assert_allclose(w, np.linalg.lstsq(extend(x), y, rcond=None)[0], rtol=1e-8)
    # ridge lifts the small singular values: the normal equations hold, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w_ridge = normal_equations(x, y, ridge=1e-3)
    ridge = Ridge(alpha=1e-3, solver="svd").fit(x, y)
    np.testing.assert_allclose(w_ridge, [ridge.intercept_, *ridge.coef_], rtol=1e-8)


def test_exactly_collinear_columns_give_minimum_norm_solution() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(200, 2))
    x = np.column_stack([a, a[:, 0] + a[:, 1]])  # rank 2 of 3
    y = a @ [1.0, -2.0] + 0.3
    with pytest.warns(RankDeficiencyWarning):
        w = normal_equations(x, y)
    np.testing.assert_allclose(extend(x) @ w, y, atol=1e-9)
    np.testing.assert_allclose(w, np.linalg.pinv(extend(x)) @ y, rtol=1e-8)


def test_gradient_descent_mse_converges_to_normal_equations() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2000, 3))
    y = (x @ [1.0, 0.5, -0.5] + rng.normal(size=2000) > 0).astype(float)
    model = GradientDescentLinear(loss="mse", learning_rate=0.2, epochs=400).fit(
        x[:1500], y[:1500], x[1500:], y[1500:]
    )
    np.testing.assert_allclose(model.weights_, normal_equations(x[:1500], y[:1500]), rtol=1e-6)
    hist = model.history_["train"]
    assert all(a >= b - 1e-15 for a, b in itertools.pairwise(hist))  # monotone descent
    assert len(model.history_["validation"]) == 400


def test_gradient_descent_bce_approaches_logistic_regression() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3000, 2))
    y = (rng.random(3000) < 1 / (1 + np.exp(-(x @ [2.0, -1.0] + 0.5)))).astype(int)
    model = GradientDescentLinear(loss="bce", learning_rate=1.0, epochs=2000).fit(x, y)
    sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x, y)
    np.testing.assert_allclose(model.weights_, [sk.intercept_[0], *sk.coef_[0]], rtol=1e-4)
    p = model.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert linear_loss("bce", y, model.decision_function(x)) == pytest.approx(
        model.history_["train"][-1], rel=1e-4
    )
    with pytest.raises(ValueError, match="loss must be"):
        GradientDescentLinear(loss="hinge").fit(x, y)
