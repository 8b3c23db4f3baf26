"""Rule train_bdt: XGBoost on one feature set, early stopping on validation; scores of
every split; an MLflow run with per-iteration curves and the model (xgboost flavour)."""

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from mlhep import io

from mlhep.models import bdt

from mlhep.models import sklearn as models
from mlhep.models.ann import resolve_device
from mlhep.runlog import script_log
from mlhep.tracking import log_curves, start_run

with script_log(snakemake.log[0]) as log:
    features, columns = snakemake.wildcards.features, snakemake.params.columns
    settings = snakemake.params.settings
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    device = resolve_device(snakemake.config["device"]).type
    booster, info = bdt.train(splits["train"], splits["validation"], columns, settings,
                              device, snakemake.threads, snakemake.config["seed"])  # fmt: skip
    predictions = pd.concat(
        [models.prediction_frame(f, s, bdt.scores(booster, f, columns)) for s, f in splits.items()],
        ignore_index=True,
    )
    with start_run(snakemake.config, snakemake.wildcards.dataset, snakemake.rule, f"bdt-{features}",
                   snakemake.scriptdir, tags={"model": "bdt", "features": features}) as run:  # fmt: skip
        mlflow.log_params({**models.hyperparameters(settings), "model": "bdt", "features": features,
                           "device": device, "n_train": len(splits["train"])})  # fmt: skip
        mlflow.log_metrics({"best_iteration": info["best_iteration"]})
        log_curves({"train_loss": info["history"]["train"], "validation_loss": info["history"]["validation"],
                    "train_auc": info["auc_history"]["train"], "validation_auc": info["auc_history"]["validation"]})  # fmt: skip
        example = models.features_of(splits["train"].head(5), columns)
        model_info = mlflow.xgboost.log_model(
            booster, name="model", input_example=example,
            signature=infer_signature(example, booster.predict(bdt.dmatrix(splits["train"].head(5), columns))),
        )  # fmt: skip
    log.info("BDT %s: best iteration %d", features, info["best_iteration"])
    with io.atomic_path(snakemake.output.model) as tmp:
        booster.save_model(tmp)
    io.write_parquet(snakemake.output.predictions, predictions)
    io.write_json(snakemake.output.record, {"model": "bdt", "features": features, "columns": columns,
                  "loss": "bce", "mlflow_run_id": run.info.run_id, "model_uri": model_info.model_uri,
                  "device": device, **info})  # fmt: skip
