"""Rule bayes_optimal: the exact Bayes-optimal test AUC per feature set, logged to MLflow."""

import mlflow
import pandas as pd

from mlhep import io
from mlhep.data import get_kind
from mlhep.evaluation.limit import limit_table
from mlhep.runlog import script_log
from mlhep.tracking import RunSpec, start_run

with script_log(snakemake.log[0]) as log:
    p, dataset = snakemake.params, snakemake.wildcards.dataset
    test = pd.read_parquet(snakemake.input.test)
    table = limit_table(get_kind(p.kind).limit, test, p.feature_sets, p.bootstrap_resamples, p.seed)
    log.info("Bayes-optimal test AUC: %s", table)
    spec = RunSpec.for_job(snakemake.input.experiments, dataset, snakemake.rule,
                           "workflow/scripts/bayes_optimal.py", dict(p.items()))  # fmt: skip
    with start_run(spec, "bayes_optimal", tags={"model": "bayes_optimal"}) as run:
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
