"""Logging fitted models in their MLflow flavour with a signature, an input example, the
library's code and pinned requirements, so that a logged model loads back anywhere."""

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


def log_pytorch(net: Any, example: pd.DataFrame, name: str = "model") -> str:
    """Log a torch module taking float32 rows of ``example``'s columns; return its URI."""
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
    )
    return info.model_uri


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """A trained event generator as an MLflow pyfunc: a frame with a ``label`` column in
    (1 signal, 0 background), one generated event per row out (the toy's low-level and
    engineered columns); the ``seed`` param picks the random numbers."""

    def load_context(self, context: Any) -> None:
        """Load the generator's torch file (on the CPU)."""
        from mlhep.generative import gan

        self.generator = gan.load(context.artifacts["generator"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Generated events, one per label."""
        from mlhep.data.dimuon.features import engineer

        seed = int((params or {}).get("seed", 0))
        frame, _ = self.generator.sample(model_input["label"].to_numpy(), seed)
        return engineer(frame)


def log_generator(path: str, name: str = "generator") -> str:
    """Log a saved generator (:meth:`mlhep.generative.gan.EventGenerator.save`) as a pyfunc
    a user loads with ``mlflow.pyfunc.load_model(uri)`` and samples with ``.predict``."""
    import torch

    from mlhep.generative import gan

    example = pd.DataFrame({"label": [1, 0]})
    probe = GeneratorModel()
    probe.generator = gan.load(path)
    output = probe.predict(None, example)
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=GeneratorModel(),
        artifacts={"generator": str(path)},
        signature=infer_signature(example, output, params={"seed": 0}),
        input_example=example,
        code_paths=[str(LIBRARY_DIR)],
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            *requirements("numpy", "scipy", "pandas", "mlflow"),
        ],
    )
    return info.model_uri
