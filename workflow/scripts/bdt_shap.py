"""Rule bdt_shap: TreeSHAP values of the BDT on test events; summary plot and ranking."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

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
    events = studies.sample_rows(
        pd.read_parquet(snakemake.input.test), p.settings["n_events"], p.seed
    )
    values, base = trainer.shap_values(fitted, events, columns, snakemake.threads)
    ranking = studies.shap_ranking(values, columns)
    log.info("SHAP ranking:\n%s", ranking)
    figure, ax = plotting.new_figure(figsize=(9, 6))
    plotting.draw_shap_summary(ax, values, events[columns])
    plotting.save_figure(figure, snakemake.output.plot)
    io.write_json(
        snakemake.output.ranking,
        {"base_value": base, "n_events": len(events), "ranking": ranking.to_dict("records")},
    )
    run = add_to_run(snakemake.input.experiments, record["mlflow_run_id"])
    run.log_artifact(snakemake.output.plot, "plots")
    run.log_dict(ranking.to_dict("records"), "shap_ranking.json")
