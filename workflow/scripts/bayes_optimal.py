"""Rule bayes_optimal: exact Bayes-optimal test AUC per feature set, logged to MLflow."""

import mlflow
import pandas as pd

from mlhep import io
from mlhep.evaluation.limit import bayes_table
from mlhep.runlog import script_log
from mlhep.tracking import start_run

with script_log(snakemake.log[0]) as log:
    dataset = snakemake.wildcards.dataset
    test = pd.read_parquet(snakemake.input.test)
    sets = snakemake.config["features"]["sets"]
    table = bayes_table(
        test, sets, snakemake.params.feature_sets,
        snakemake.config["evaluation"]["bootstrap_resamples"], snakemake.config["seed"],
    )  # fmt: skip
    log.info("Bayes-optimal test AUC: %s", table)
    with start_run(
        snakemake.config, dataset, snakemake.rule, "bayes_optimal", snakemake.scriptdir
    ) as run:
        mlflow.log_params({"model": "bayes_optimal", "split": "test", "n_events": len(test)})
        for name, metrics in table.items():
            mlflow.log_metrics(
                {f"{name}.{k}": v for k, v in metrics.items() if isinstance(v, float)}
            )
        result = {
            "dataset": dataset,
            "split": "test",
            "n_events": len(test),
            "mlflow_run_id": run.info.run_id,
            "feature_sets": table,
        }
        mlflow.log_dict(result, "bayes_optimal.json")
    io.write_json(snakemake.output[0], result)
