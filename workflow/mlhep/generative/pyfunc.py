"""A trained event generator as an MLflow pyfunc: logged with its torch file as an artifact,
the library's code and pinned requirements, so that a user loads it anywhere with
``mlflow.pyfunc.load_model(uri)`` and samples events with ``.predict``."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from mlhep.tracking.models import LIBRARY_DIR, requirements


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """A trained event generator as an MLflow pyfunc: a frame with a ``label`` column in
    (1 signal, 0 background), one generated event per row out (the toy's low-level and
    engineered columns); the ``seed`` param picks the random numbers."""

    def load_context(self, context: Any) -> None:
        """Load the generator's torch file (on the CPU)."""
        from mlhep.generative import sampling

        self.generator = sampling.load(context.artifacts["generator"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Generated events, one per label."""
        from mlhep.data.dimuon.features import engineer

        seed = int((params or {}).get("seed", 0))
        frame, _ = self.generator.sample(model_input["label"].to_numpy(), seed)
        return engineer(frame)


def log_generator(path: str, name: str = "generator") -> str:
    """Log a saved generator (``save`` of a generator of :mod:`mlhep.generative`) as a pyfunc
    a user loads with ``mlflow.pyfunc.load_model(uri)`` and samples with ``.predict``;
    return its model URI."""
    import torch

    from mlhep.generative import sampling

    example = pd.DataFrame({"label": [1, 0]})
    probe = GeneratorModel()
    probe.generator = sampling.load(path)
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
            *(requirements("zuko") if probe.generator.settings.get("objective") == "flow" else []),
        ],
    )
    return info.model_uri
