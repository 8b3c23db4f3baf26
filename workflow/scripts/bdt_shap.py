"""Rule bdt_shap: TreeSHAP values of the BDT on test events; summary plot and ranking."""

import mlflow
import pandas as pd
import xgboost as xgb

from mlhep import io, plotting, studies

from mlhep.models import bdt
from mlhep.runlog import script_log
from mlhep.tracking import tracking_uri

with script_log(snakemake.log[0]) as log:
    record = io.read_json(snakemake.input.record)
    columns = record["columns"]
    booster = xgb.Booster(model_file=snakemake.input.model)
    settings = snakemake.config["studies"]["shap"]
    events = studies.sample_rows(
        pd.read_parquet(snakemake.input.test), settings["n_events"], snakemake.config["seed"]
    )
    values, base = bdt.shap_values(booster, events, columns)
    ranking = studies.shap_ranking(values, columns)
    log.info("SHAP ranking:\n%s", ranking)
    plotting.shap_summary(values, events[columns], snakemake.output.plot)
    io.write_json(snakemake.output.ranking, {"base_value": base, "n_events": len(events),
                                             "ranking": ranking.to_dict("records")})  # fmt: skip
    mlflow.set_tracking_uri(tracking_uri(snakemake.config))
    with mlflow.start_run(run_id=record["mlflow_run_id"]):
        mlflow.log_artifact(snakemake.output.plot, "plots")
        mlflow.log_dict(ranking.to_dict("records"), "shap_ranking.json")
