"""Linear least squares by the normal equations (with ridge), the bias as the extended
weight w_0: NumPy and SciPy only, so that cheap fits (the polynomial studies) import no
scikit-learn or numba."""

from __future__ import annotations

import warnings

import numpy as np

#: cond(X^T X) above which the normal equations lose more than half of float64's digits
#: and the solver falls back to least squares on X itself (SVD).
COND_LIMIT = 1e8


class RankDeficiencyWarning(UserWarning):
    """X^T X is singular or too ill-conditioned for the normal equations."""


def extend(x: np.ndarray) -> np.ndarray:
    """Prepend the constant 1 to each input, so the bias becomes the weight w_0."""
    x = np.asarray(x, dtype=float)
    return np.column_stack([np.ones(len(x)), x])


def normal_equations(x: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """Least-squares weights w = (X^T X + lambda D)^-1 X^T y of the extended design.

    Solved with a linear solver (Cholesky), never an explicit inverse. ``ridge`` adds
    lambda w^T w with the bias w_0 unpenalised (D = diag(0, 1, ..., 1)), as scikit-learn's
    ``Ridge`` does. If X^T X + lambda D is singular or has a condition number above
    :data:`COND_LIMIT` (collinear or nearly collinear inputs), a
    :class:`RankDeficiencyWarning` is issued and the same problem is solved by least squares
    on the design itself (SVD; the minimum-norm solution when singular).
    """
    xe = extend(x)
    y = np.asarray(y, dtype=float)
    penalty = np.full(xe.shape[1], float(ridge))
    penalty[0] = 0.0
    gram = xe.T @ xe + np.diag(penalty)
    cond = np.linalg.cond(gram)
    if np.isfinite(cond) and cond <= COND_LIMIT:
        import scipy.linalg  # here: its import is a tenth of a cheap job

        return scipy.linalg.solve(gram, xe.T @ y, assume_a="pos")
    warnings.warn(
        f"X^T X is singular or ill-conditioned (cond {cond:.2g} > {COND_LIMIT:.0e}): the inputs "
        "are (nearly) collinear; solving by least squares on X (SVD) instead of the normal "
        "equations",
        RankDeficiencyWarning,
        stacklevel=2,
    )
    # ridge as an augmented least-squares problem: [X; sqrt(lambda D)] w ~ [y; 0]
    design = np.vstack([xe, np.diag(np.sqrt(penalty))])
    target = np.concatenate([y, np.zeros(xe.shape[1])])
    return np.linalg.lstsq(design, target, rcond=None)[0]
