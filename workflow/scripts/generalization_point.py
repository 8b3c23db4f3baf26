"""Rule generalization_point: one grid point of a generalization study, as an MLflow run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io
from mlhep.core import GENERALIZATION_EXPERIMENT
from mlhep.models.base import FitContext, resolve_device
from mlhep.runlog import script_log
from mlhep.studies.generalization import STUDIES, StudyData
from mlhep.studies.generalization.tracking import run_and_log
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    splits = None
    if STUDIES[w.study].data is StudyData.DATASET:
        splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    context = FitContext(p.seed, resolve_device(p.device, STUDIES[w.study].gpu), snakemake.threads)
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        GENERALIZATION_EXPERIMENT,
        snakemake.rule,
        "workflow/scripts/generalization_point.py",
        dict(p.items()),
    )
    record = run_and_log(spec, w.study, w.point, p.point, p.settings, splits, context, log)
    io.write_json(snakemake.output[0], record)
