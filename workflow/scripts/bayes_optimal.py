"""Rule bayes_optimal: the exact Bayes-optimal discriminant of each feature set, evaluated
like a classifier (every metric, the posterior at the training prior), logged to MLflow."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import mlflow
import pandas as pd

from mlhep import io
from mlhep.data import get_kind
from mlhep.evaluation.calibration import prior_log_odds
from mlhep.evaluation.classification import evaluate
from mlhep.evaluation.limit import limit_predictions
from mlhep.runlog import script_log
from mlhep.tracking import RunSpec, start_run

with script_log(snakemake.log[0]) as log:
    p, dataset = snakemake.params, snakemake.wildcards.dataset
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    limit, settings = get_kind(p.kind).limit, p.evaluation
    log_odds = prior_log_odds(splits["train"]["label"].to_numpy())
    table = {}
    for name, columns in p.feature_sets.items():
        predictions = limit_predictions(limit, splits, columns, log_odds)
        scores = predictions.loc[predictions["split"] == "test"].set_index("event_id")["score"]
        table[name] = evaluate(
            predictions,
            "bce",
            scores,
            log_odds,
            settings["bootstrap_resamples"],
            settings["confidence_level"],
            settings["ams_regularisation"],
            p.seed,
        )
        log.info("Bayes limit on %s: %s", name, table[name])
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        dataset,
        snakemake.rule,
        "workflow/scripts/bayes_optimal.py",
        dict(p.items()),
    )
    with start_run(spec, "bayes_optimal", tags={"model": "bayes_optimal"}) as run:
        mlflow.log_params(
            {"model": "bayes_optimal", "prior_log_odds": log_odds, "n_test": len(splits["test"])}
        )
        for name, metrics in table.items():
            mlflow.log_metrics(
                {f"{name}.{k}": v for k, v in metrics.items() if isinstance(v, float)}
            )
        result = {
            "dataset": dataset,
            "prior_log_odds": log_odds,
            "mlflow_run_id": run.info.run_id,
            "feature_sets": table,
        }
        mlflow.log_dict(result, "bayes_optimal.json")
    io.write_json(snakemake.output[0], result)
