"""The lecture's linear classics: Rosenblatt's perceptron, linear regression by the normal
equations (with ridge), and a linear model trained by gradient descent on the MSE or the
binary cross-entropy. All carry the bias as an extended weight vector: the input is
extended by a constant 1, so w = (w_0, w_1, ..., w_n) with w_0 the bias.

The classifiers follow scikit-learn's estimator interface, so they sit in pipelines with a
scaler and are logged with MLflow's sklearn flavour.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from mlhep.models.least_squares import (  # noqa: F401 (the lecture's names, re-exported)
    COND_LIMIT,
    RankDeficiencyWarning,
    extend,
    normal_equations,
)


# --- perceptron ---------------------------------------------------------------------------------
@numba.njit(cache=True)
def _perceptron_epoch(
    xe: np.ndarray, y: np.ndarray, w: np.ndarray, eta: float, order: np.ndarray
) -> int:
    """One pass of the perceptron rule over the samples in ``order``; returns the mistakes.

    Per sample: y_hat = step(w . x); w_j <- w_j + eta (y - y_hat) x_j.
    """
    mistakes = 0
    n_weights = xe.shape[1]
    for i in order:
        activation = 0.0
        for j in range(n_weights):
            activation += w[j] * xe[i, j]
        y_hat = 1 if activation >= 0.0 else 0
        delta = y[i] - y_hat
        if delta != 0:
            mistakes += 1
            for j in range(n_weights):
                w[j] += eta * delta * xe[i, j]
    return mistakes


class _LinearScore(ClassifierMixin, BaseEstimator):
    """A binary classifier whose score is linear in the extended input: w . (1, x)."""

    def _set_weights(self, w: np.ndarray) -> None:
        """Store the fitted extended weight vector (w_0 the bias)."""
        self.weights_ = w
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(w) - 1

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """The linear score w . x (bias included)."""
        check_is_fitted(self, "weights_")
        return extend(x) @ self.weights_


class Perceptron(_LinearScore):
    """Rosenblatt's perceptron, exactly as the lecture states it.

    Output y_hat = 1 if w . x >= 0 else 0 (unit step) on the input extended by 1; the rule
    w_j <- w_j + eta (y - y_hat) x_j is applied sample by sample; the weights start at zero
    (``init="zeros"``) or small random numbers (``init="random"``, N(0, 0.01^2)); the sample
    order of each epoch is a seeded permutation. ``errors_`` holds the misclassifications
    per epoch; training stops early after an epoch without any (the weights would no
    longer change). The ROC uses the linear score w . x (:meth:`decision_function`).

    On data that are not linearly separable the rule never settles and the last weights
    can be arbitrarily bad. ``pocket=True`` (Gallant, IEEE Trans. Neural Netw. 1 (1990)
    179) keeps, in a "pocket", the end-of-epoch weights with the fewest training errors
    (``training_errors_`` per epoch); the rule itself is unchanged, and on separable data
    the result is the same.
    """

    def __init__(
        self,
        learning_rate: float = 0.1,
        epochs: int = 20,
        init: str = "zeros",
        seed: int = 0,
        pocket: bool = False,
    ) -> None:
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.init = init
        self.seed = seed
        self.pocket = pocket

    def fit(self, x: np.ndarray, y: np.ndarray) -> Perceptron:
        """Train on inputs ``x`` and labels ``y`` in {0, 1}."""
        if self.init not in ("zeros", "random"):
            raise ValueError(f"init must be 'zeros' or 'random', not {self.init!r}")
        y = np.asarray(y)
        if not np.isin(y, (0, 1)).all():
            raise ValueError("the perceptron takes labels 0 and 1")
        xe = extend(x)
        rng = np.random.default_rng(self.seed)
        w = np.zeros(xe.shape[1]) if self.init == "zeros" else rng.normal(0.0, 0.01, xe.shape[1])
        labels = y.astype(np.int64)
        self.errors_: list[int] = []
        self.training_errors_: list[int] = []
        pocket = w.copy()
        for _ in range(self.epochs):
            order = rng.permutation(len(xe))
            self.errors_.append(int(_perceptron_epoch(xe, labels, w, self.learning_rate, order)))
            self.training_errors_.append(int(((xe @ w >= 0.0).astype(np.int64) != labels).sum()))
            if self.training_errors_[-1] <= min(self.training_errors_):
                pocket = w.copy()
            if self.errors_[-1] == 0:
                break
        self._set_weights(pocket if self.pocket else w)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The unit step of the score: 1 if w . x >= 0 else 0."""
        return (self.decision_function(x) >= 0.0).astype(np.int64)


# --- gradient descent on a linear model -----------------------------------------------------------
def linear_loss(loss: str, y: np.ndarray, score: np.ndarray) -> float:
    """Mean loss of a linear score: ``mse`` (score - y)^2, or ``bce`` on sigmoid(score)."""
    if loss == "mse":
        return float(np.mean((score - y) ** 2))
    if loss == "bce":
        # log(1 + e^-z) for y = 1 and log(1 + e^z) for y = 0, computed stably
        return float(np.mean(np.logaddexp(0.0, -score) * y + np.logaddexp(0.0, score) * (1 - y)))
    raise ValueError(f"loss must be 'mse' or 'bce', not {loss!r}")


class GradientDescentLinear(_LinearScore):
    """A linear model w . x trained by full-batch gradient descent on the MSE to the labels
    (linear regression as a classifier) or on the binary cross-entropy of sigmoid(w . x)
    (logistic regression). ``history_`` holds the training (and, given validation data, the
    validation) loss per epoch."""

    def __init__(
        self, loss: str = "bce", learning_rate: float = 0.1, epochs: int = 300, seed: int = 0
    ) -> None:
        self.loss = loss
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.seed = seed

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> GradientDescentLinear:
        """Run the configured number of epochs from small random weights."""
        linear_loss(self.loss, np.zeros(1), np.zeros(1))  # validates the loss name
        xe, y = extend(x), np.asarray(y, dtype=float)
        xv = extend(x_val) if x_val is not None else None
        w = np.random.default_rng(self.seed).normal(0.0, 0.01, xe.shape[1])
        history: dict[str, list[float]] = {"train": [], "validation": []}
        for _ in range(self.epochs):
            score = xe @ w
            history["train"].append(linear_loss(self.loss, y, score))
            if xv is not None:
                history["validation"].append(linear_loss(self.loss, y_val, xv @ w))
            residual = 2.0 * (score - y) if self.loss == "mse" else expit(score) - y
            w = w - self.learning_rate * (xe.T @ residual) / len(xe)
        self._set_weights(w)
        self.history_ = history if xv is not None else {"train": history["train"]}
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities: sigmoid of the score (BCE), the clipped score (MSE)."""
        score = self.decision_function(x)
        p = expit(score) if self.loss == "bce" else np.clip(score, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """1 where the signal probability is at least 1/2."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(np.int64)
