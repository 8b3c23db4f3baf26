"""Rule evaluate_regression: every pulse regressor of a dataset against the Cramer-Rao
bound (tables, figures), its metrics logged into each regressor's MLflow run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io
from mlhep.evaluation.regression_report import evaluate_dataset
from mlhep.runlog import script_log
from mlhep.tracking import add_to_run

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    predictions = {label: pd.read_parquet(snakemake.input[label]) for label in p.methods}
    records = [io.read_json(path) for path in snakemake.input.records]
    test = pd.read_parquet(snakemake.input.test)
    result = evaluate_dataset(
        test,
        predictions,
        records,
        p.readout,
        p.regression,
        dict(snakemake.output.items()),
        snakemake.wildcards.dataset,
    )
    for record, metrics in zip(records, result["metrics"], strict=True):
        run = add_to_run(snakemake.input.experiments, record["mlflow_run_id"])
        run.log_metrics(metrics)
        run.log_artifact(snakemake.output.resolution, "plots")
        log.info(
            "%s: %s",
            record["model"],
            {k: round(v, 4) for k, v in metrics.items() if k.endswith("ratio")},
        )
    io.write_json(snakemake.output.summary, result["summary"])
