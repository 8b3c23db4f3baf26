"""Rule generalization_point: one grid point of a generalization study, as an MLflow run."""

import pandas as pd

from mlhep import io
from mlhep.core import GENERALIZATION_EXPERIMENT
from mlhep.models.base import FitContext, resolve_device
from mlhep.runlog import script_log
from mlhep.studies.generalization import STUDIES, run_point
from mlhep.studies.generalization.tracking import log_point
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    splits = None
    if STUDIES[w.study].data == "dataset":
        splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    context = FitContext(p.seed, resolve_device(p.device, STUDIES[w.study].gpu), snakemake.threads)
    log.info("%s, point %s on %s", w.study, w.point, context.device)
    result = run_point(w.study, p.settings, p.point, splits, context)
    log.info("%s", {k: v for k, v in result.items() if isinstance(v, int | float)})
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        GENERALIZATION_EXPERIMENT,
        snakemake.rule,
        "workflow/scripts/generalization_point.py",
        dict(p.items()),
    )
    run_id = log_point(spec, w.study, w.point, p.point, result)
    io.write_json(
        snakemake.output[0],
        {
            "study": w.study,
            "name": w.point,
            "point": p.point,
            "result": result,
            "mlflow_run_id": run_id,
        },
    )
