"""Rule train_sklearn: fit one scikit-learn classifier on one feature set, score every split,
log the run (parameters, curves, model) to MLflow."""

import time

import joblib
import mlflow
import pandas as pd

from mlhep import io

from mlhep.models import sklearn as models
from mlhep.tracking.models import log_sklearn
from mlhep.runlog import script_log
from mlhep.tracking import log_curves, start_run

with script_log(snakemake.log[0]) as log:
    name, features = snakemake.wildcards.model, snakemake.wildcards.features
    columns = snakemake.params.columns
    settings = snakemake.params.settings
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    pipeline = models.build(name, settings, seed=snakemake.config["seed"])
    start = time.perf_counter()
    info = models.fit(pipeline, name, splits, columns)
    fit_seconds = time.perf_counter() - start
    log.info("%s on %s trained in %.2f s", name, features, fit_seconds)
    predictions = models.predict(pipeline, name, splits, columns)
    with start_run(
        snakemake.config, snakemake.wildcards.dataset, snakemake.rule, f"{name}-{features}",
        snakemake.scriptdir, tags={"model": name, "features": features},
    ) as run:  # fmt: skip
        mlflow.log_params({**models.hyperparameters(settings), "model": name, "features": features,
                           "n_train": len(splits["train"]), "columns": ",".join(columns)})  # fmt: skip
        mlflow.log_metric("fit_seconds", fit_seconds)
        curves = {f"{key}_loss": values for key, values in info.get("history", {}).items()}
        log_curves({**curves, "train_updates": info.get("errors_per_epoch", []),
                    "train_errors": info.get("training_errors_per_epoch", [])})  # fmt: skip
        model_uri = log_sklearn(
            pipeline,
            models.features_of(splits["train"].head(5), columns),
            probabilistic=models.CLASSIFIERS[name].probabilistic,
        )
    with io.atomic_path(snakemake.output.model) as tmp:
        joblib.dump(pipeline, tmp)
    io.write_parquet(snakemake.output.predictions, predictions)
    io.write_json(
        snakemake.output.record,
        {"model": name, "features": features, "columns": columns, "loss": models.CLASSIFIERS[name].loss,
         "mlflow_run_id": run.info.run_id, "model_uri": model_uri, "fit_seconds": fit_seconds, **info},
    )  # fmt: skip
