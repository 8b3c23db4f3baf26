"""The lecture's demonstrations that need no collider data: the perceptron on Fisher's
Iris (setosa against versicolor on sepal and petal length, shipped with scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import Perceptron as SkPerceptron

from mlhep.models.linear import Perceptron

IRIS_FEATURES = ("sepal length [cm]", "petal length [cm]")
IRIS_CLASSES = ("setosa", "versicolor")


def iris_two_class() -> tuple[np.ndarray, np.ndarray]:
    """Setosa (0) and versicolor (1) on sepal length and petal length (100 flowers)."""
    data = load_iris()
    keep = data.target < 2
    return data.data[keep][:, [0, 2]], data.target[keep]


def perceptron_iris(
    learning_rate: float, epochs: int, init: str, seed: int
) -> tuple[Perceptron, dict[str, Any]]:
    """Train the perceptron on the raw Iris inputs; cross-check with scikit-learn's."""
    x, y = iris_two_class()
    model = Perceptron(learning_rate, epochs, init, seed).fit(x, y)
    reference = SkPerceptron(eta0=learning_rate, max_iter=1000, tol=None, random_state=seed)
    reference.fit(x, y)
    zero = [k + 1 for k, e in enumerate(model.errors_) if e == 0]
    return model, {
        "learning_rate": learning_rate,
        "init": init,
        "seed": seed,
        "errors_per_epoch": model.errors_,
        "epochs_to_zero_errors": zero[0] if zero else None,
        "training_errors": int((model.predict(x) != y).sum()),
        "weights": model.weights_.tolist(),
        "sklearn_training_errors": int((reference.predict(x) != y).sum()),
        "agrees_with_sklearn": bool((model.predict(x) == reference.predict(x)).all()),
    }
