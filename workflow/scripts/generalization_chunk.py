"""Rule generalization_chunk: the points of a cheap generalization study that one job runs
together (each point its own MLflow run and record), so that their start-up is paid once."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.core import GENERALIZATION_EXPERIMENT
from mlhep.models.base import FitContext
from mlhep.runlog import script_log
from mlhep.studies.generalization import STUDIES, StudyData
from mlhep.studies.generalization.tracking import run_and_log
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    splits = None
    if STUDIES[w.study].data is StudyData.DATASET:
        import pandas as pd  # only these studies read the splits

        splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    context = FitContext(p.seed, "cpu", snakemake.threads)
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        GENERALIZATION_EXPERIMENT,
        snakemake.rule,
        "workflow/scripts/generalization_chunk.py",
        dict(p.items()),
    )
    records = [
        run_and_log(spec, w.study, name, point, p.settings, splits, context, log)
        for name, point in p.points.items()
    ]
    io.write_json(snakemake.output[0], {"study": w.study, "chunk": int(w.chunk), "points": records})
