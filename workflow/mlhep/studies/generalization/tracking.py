"""MLflow for the generalization studies: every grid point is a run of its own (logged by
its job, so points run in parallel); the study's summary job opens the parent run and
attaches the points to it through the ``mlflow.parentRunId`` tag, which the MLflow UI
shows as nested runs."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from mlhep.tracking import RunSpec, log_curves, mlflow_module, start_run


def scalar_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a result (MLflow metrics)."""
    return {
        key: float(value)
        for key, value in result.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def log_point(
    spec: RunSpec, study: str, name: str, point: Mapping[str, Any], result: Mapping[str, Any]
) -> str:
    """Log one point (its grid values as params, its scalars as metrics, its per-epoch
    curves as metric histories); return the run id."""
    mlflow = mlflow_module()
    tags = {"study": study, "study_point": name}
    with start_run(spec, run_name=f"{study} {name}", tags=tags) as run:
        mlflow.log_params({k: str(v) for k, v in point.items()})
        mlflow.log_metrics(scalar_metrics(result))
        if isinstance(result.get("curves"), Mapping):
            log_curves({f"curve_{k}": v for k, v in result["curves"].items()})
        return str(run.info.run_id)


def log_study(
    spec: RunSpec,
    study: str,
    metrics: Mapping[str, float],
    artifacts: Iterable[str],
    children: Iterable[str],
) -> str:
    """Open the study's parent run (its chosen point's metrics, its figure and table) and
    make every point's run its child; return the parent's id."""
    mlflow = mlflow_module()
    with start_run(spec, run_name=study, tags={"study": study, "study_parent": "true"}) as run:
        mlflow.log_metrics(scalar_metrics(metrics))
        for path in artifacts:
            mlflow.log_artifact(os.fspath(path))
        parent = str(run.info.run_id)
    client = mlflow.MlflowClient(tracking_uri=spec.uri)
    for child in children:
        client.set_tag(child, "mlflow.parentRunId", parent)
    return parent


def run_and_log(
    spec: RunSpec,
    study: str,
    name: str,
    point: Mapping[str, Any],
    settings: Mapping[str, Any],
    splits: Mapping[str, Any] | None,
    context: Any,
    log: Any = None,
) -> dict[str, Any]:
    """Run one grid point and log it as its own MLflow run; return its record (what a
    point's file holds: study, name, grid values, result, run id)."""
    from mlhep.studies.generalization import run_point

    if log is not None:
        log.info("%s, point %s on %s", study, name, context.device)
    result = run_point(study, settings, point, splits, context)
    if log is not None:
        log.info("%s", {k: v for k, v in result.items() if isinstance(v, int | float)})
    run_id = log_point(spec, study, name, point, result)
    return {
        "study": study,
        "name": name,
        "point": dict(point),
        "result": result,
        "mlflow_run_id": run_id,
    }


def point_records(files: Iterable[str | os.PathLike[str]], order: Iterable[str]) -> list[Any]:
    """The point records of a study from its files (a point's file holds one record, a
    chunk's file a list of them), in the grid's ``order`` of point names."""
    from mlhep import io

    records = {}
    for path in files:
        content = io.read_json(path)
        for record in content.get("points", [content]):
            records[record["name"]] = record
    missing = [name for name in order if name not in records]
    if missing:
        raise LookupError(f"no record of the point(s) {missing} in {list(map(str, files))}")
    return [records[name] for name in order]
