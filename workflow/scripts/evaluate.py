"""Rule evaluate: every metric of one classifier against the exact limit of its feature
set (where the dataset has one), its ROC and score-distribution plots, logged into the
classifier's MLflow run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io
from mlhep.data import get_kind
from mlhep.evaluation.classification import evaluate
from mlhep.evaluation.figures import save_evaluation_figures
from mlhep.evaluation.limit import limit_scores
from mlhep.models.training import record_prior_log_odds
from mlhep.runlog import script_log
from mlhep.tracking import add_to_run

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    record = io.read_json(snakemake.input.record)
    predictions = pd.read_parquet(snakemake.input.predictions)
    test = pd.read_parquet(snakemake.input.test)
    limit = limit_scores(get_kind(p.kind).limit, test, record["columns"]) if p.limit else None
    settings = p.evaluation
    metrics = evaluate(
        predictions,
        record["loss"],
        limit,
        record_prior_log_odds(record, predictions),
        settings["bootstrap_resamples"],
        settings["confidence_level"],
        settings["ams_regularisation"],
        p.seed,
        settings["calibration"],
    )
    metrics.update(
        dataset=snakemake.wildcards.dataset,
        model=record["model"],
        features=record["features"],
        mlflow_run_id=record["mlflow_run_id"],
    )
    log.info("metrics %s", metrics)
    save_evaluation_figures(
        predictions,
        limit,
        metrics,
        record["model"],
        record["features"],
        snakemake.output.roc,
        snakemake.output.scores,
    )
    run = add_to_run(snakemake.input.experiments, record["mlflow_run_id"])
    run.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
    if "limit_verdict" in metrics:  # shown in the run list: consistent with the limit?
        run.set_tag("limit_verdict", metrics["limit_verdict"])
    run.log_artifact(snakemake.output.roc, "plots")
    run.log_artifact(snakemake.output.scores, "plots")
    io.write_json(snakemake.output.metrics, metrics)
