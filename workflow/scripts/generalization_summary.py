"""Rule generalization_summary: a study's points in one table, its choice on validation,
its figure, and its MLflow parent run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io, plotting
from mlhep.core import GENERALIZATION_EXPERIMENT
from mlhep.runlog import script_log
from mlhep.studies.generalization import figures, summarise
from mlhep.studies.generalization.tracking import log_study, point_records
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    points = point_records(snakemake.input.points, p.order)
    limit = io.read_json(snakemake.input.limit) if snakemake.input.get("limit") else None
    summary, table = summarise(w.study, points, limit, p.features)
    log.info("%s: chosen %s", w.study, summary["chosen"])
    io.write_csv(snakemake.output.table, table)
    plotting.save_figure(figures.figure(w.study, points, summary), snakemake.output.figure)
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        GENERALIZATION_EXPERIMENT,
        snakemake.rule,
        "workflow/scripts/generalization_summary.py",
        dict(p.items()),
    )
    chosen = summary["selection"][0] if summary["selection"] else {}
    summary["mlflow_run_id"] = log_study(
        spec,
        w.study,
        {k: v for k, v in chosen.items() if isinstance(v, float)},
        [snakemake.output.figure, snakemake.output.table],
        [q["mlflow_run_id"] for q in points],
    )
    io.write_json(snakemake.output.summary, summary)
