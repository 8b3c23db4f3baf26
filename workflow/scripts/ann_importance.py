"""Rule ann_importance: permutation importance of the ANN inputs on test events."""

from pathlib import Path

import mlflow
import pandas as pd
import torch

from mlhep import io, plotting, studies
from mlhep.models import ann
from mlhep.runlog import script_log
from mlhep.tracking import resume_run

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    record = io.read_json(snakemake.input.record)
    columns = record["columns"]
    path = Path(snakemake.input.model) / record["model_file"]
    net = ann.AnnTrainer.load(path, len(columns), record["settings"])
    torch.set_num_threads(snakemake.threads)
    events = studies.sample_rows(
        pd.read_parquet(snakemake.input.test), p.settings["n_events"], p.seed
    )
    estimator = ann.TorchClassifier(net).fit(None, None)
    table = studies.importance_table(estimator, events, columns, p.settings["repeats"], p.seed)
    log.info("permutation importance:\n%s", table)
    plotting.importance(table, snakemake.output.plot, title=f"ANN on {record['features']}")
    io.write_json(
        snakemake.output.table, {"n_events": len(events), "importance": table.to_dict("records")}
    )
    with resume_run(snakemake.input.experiments, record["mlflow_run_id"]):
        mlflow.log_artifact(snakemake.output.plot, "plots")
        mlflow.log_dict(table.to_dict("records"), "permutation_importance.json")
