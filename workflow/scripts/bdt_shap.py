"""Rule bdt_shap: TreeSHAP values of the BDT on test events; summary plot and ranking."""

from pathlib import Path

import mlflow
import pandas as pd
import xgboost as xgb

from mlhep import io, plotting, studies
from mlhep.models import bdt
from mlhep.runlog import script_log
from mlhep.tracking import resume_run

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    record = io.read_json(snakemake.input.record)
    columns = record["columns"]
    booster = xgb.Booster(model_file=str(Path(snakemake.input.model) / record["model_file"]))
    events = studies.sample_rows(
        pd.read_parquet(snakemake.input.test), p.settings["n_events"], p.seed
    )
    values, base = bdt.shap_values(booster, events, columns)
    ranking = studies.shap_ranking(values, columns)
    log.info("SHAP ranking:\n%s", ranking)
    plotting.shap_summary(values, events[columns], snakemake.output.plot)
    io.write_json(
        snakemake.output.ranking,
        {"base_value": base, "n_events": len(events), "ranking": ranking.to_dict("records")},
    )
    with resume_run(snakemake.input.experiments, record["mlflow_run_id"]):
        mlflow.log_artifact(snakemake.output.plot, "plots")
        mlflow.log_dict(ranking.to_dict("records"), "shap_ranking.json")
