"""Logging fitted models in their MLflow flavour with a signature, an input example, the
library's code and pinned requirements, so that a logged model loads back anywhere (a
trained generator's pyfunc is the generative stage's: :mod:`mlhep.generative.pyfunc`)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature

LIBRARY_DIR = Path(__file__).resolve().parents[1]  # the mlhep package


def requirements(*packages: str) -> list[str]:
    """Pinned requirement strings of installed packages (no slow inference by MLflow)."""
    return [f"{name}=={metadata.version(name)}" for name in packages]


def log_sklearn(
    pipeline: Any, x_example: pd.DataFrame, name: str = "model", probabilistic: bool = True
) -> str:
    """Log a fitted scikit-learn pipeline; return its model URI. The pyfunc predicts the
    signal probability where the model has one, else the class."""
    method = "predict_proba" if probabilistic else "predict"
    output = getattr(pipeline, method)(x_example)
    info = mlflow.sklearn.log_model(
        pipeline,
        name=name,
        signature=infer_signature(x_example, output),
        input_example=x_example,
        pyfunc_predict_fn=method,
        code_paths=[str(LIBRARY_DIR)],
        pip_requirements=requirements("scikit-learn", "numpy", "scipy", "numba", "pandas"),
        # cloudpickle: skops would import every estimator (and torch) on each save, ~3 s
        serialization_format="cloudpickle",
    )
    return info.model_uri


def log_xgboost(booster: Any, example: pd.DataFrame, name: str = "model") -> str:
    """Log an XGBoost booster with a signature inferred from the example's margins; return
    its model URI. Requirements are given: MLflow would otherwise infer them by loading the
    model in a fresh interpreter (about 4 s a job)."""
    import xgboost as xgb

    output = booster.predict(xgb.DMatrix(example, feature_names=list(example.columns)))
    info = mlflow.xgboost.log_model(
        booster,
        name=name,
        input_example=example,
        signature=infer_signature(example, output),
        pip_requirements=requirements("xgboost", "numpy", "pandas", "scipy"),
    )
    return info.model_uri


def log_pytorch(net: Any, example: pd.DataFrame, name: str = "model") -> str:
    """Log a torch module taking float32 rows of ``example``'s columns; return its URI.

    Pickled with the library's code, as the scikit-learn models are: MLflow's default "pt2"
    format traces the module with ``torch.export``, whose import of torch's compiler stack
    cost 3.0 s (wall) for a job's first network, against 0.5 s pickled."""
    import numpy as np
    import torch

    net = net.cpu().eval()
    x = example.to_numpy(np.float32, copy=True)
    with torch.no_grad():
        output = net(torch.as_tensor(x)).numpy()
    info = mlflow.pytorch.log_model(
        net,
        name=name,
        input_example=x,
        signature=infer_signature(x, output),
        code_paths=[str(LIBRARY_DIR)],
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        serialization_format="pickle",
    )
    return info.model_uri
