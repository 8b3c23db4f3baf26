"""Rule ann_importance: permutation importance of the ANN inputs on test events."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd
import torch

from mlhep import io, plotting, studies
from mlhep.models import get_trainer
from mlhep.runlog import script_log
from mlhep.tracking import add_to_run

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    record = io.read_json(snakemake.input.record)
    columns = record["columns"]
    trainer = get_trainer(record["model"])
    fitted = trainer.load_fitted(snakemake.input.model, record)
    torch.set_num_threads(snakemake.threads)
    events = studies.sample_rows(
        pd.read_parquet(snakemake.input.test), p.settings["n_events"], p.seed
    )
    estimator = trainer.classifier(fitted, columns)
    table = studies.importance_table(estimator, events, columns, p.settings["repeats"], p.seed)
    log.info("permutation importance:\n%s", table)
    fig, ax = plotting.new_figure()
    plotting.draw_importance(ax, table, title=f"ANN on {record['features']}")
    plotting.save_figure(fig, snakemake.output.plot)
    io.write_json(
        snakemake.output.table, {"n_events": len(events), "importance": table.to_dict("records")}
    )
    run = add_to_run(snakemake.input.experiments, record["mlflow_run_id"])
    run.log_artifact(snakemake.output.plot, "plots")
    run.log_dict(table.to_dict("records"), "permutation_importance.json")
