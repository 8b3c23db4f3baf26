"""Rule ann_importance: permutation importance of the ANN inputs on test events."""

import mlflow
import pandas as pd
import torch

from mlhep import io, plotting, studies

from mlhep.models import ann
from mlhep.runlog import script_log
from mlhep.tracking import tracking_uri

with script_log(snakemake.log[0]) as log:
    record = io.read_json(snakemake.input.record)
    columns = record["columns"]
    s = record["settings"]
    net = ann.MLP(len(columns), s["layers"], s["width"], s["activation"], s["dropout"])
    net.load_state_dict(torch.load(snakemake.input.model, weights_only=True))
    torch.set_num_threads(snakemake.threads)
    settings = snakemake.config["studies"]["permutation_importance"]
    events = studies.sample_rows(
        pd.read_parquet(snakemake.input.test), settings["n_events"], snakemake.config["seed"]
    )
    estimator = ann.TorchClassifier(net, columns).fit(None, None)
    table = studies.importance_table(
        estimator, events, columns, settings["repeats"], snakemake.config["seed"]
    )
    log.info("permutation importance:\n%s", table)
    plotting.importance(table, snakemake.output.plot, title=f"ANN on {record['features']}")
    io.write_json(
        snakemake.output.table, {"n_events": len(events), "importance": table.to_dict("records")}
    )
    mlflow.set_tracking_uri(tracking_uri(snakemake.config))
    with mlflow.start_run(run_id=record["mlflow_run_id"]):
        mlflow.log_artifact(snakemake.output.plot, "plots")
        mlflow.log_dict(table.to_dict("records"), "permutation_importance.json")
