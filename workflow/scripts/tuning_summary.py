"""Rule tuning_summary: a search against the default settings and the limit, its figures,
added to the study's MLflow run."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io, plotting
from mlhep.runlog import script_log
from mlhep.studies import tuning
from mlhep.studies.tuning_figures import optuna_figures, progress_figure
from mlhep.tracking import add_to_run

with script_log(snakemake.log[0]) as log:
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    search = tuning.Search.from_params(p.search)
    record = io.read_json(i.study)
    study = tuning.load_study(search, tuning.open_storage(search, record["journal"]))
    evaluation = p.evaluation
    gain = tuning.comparison(
        pd.read_parquet(i.test),
        pd.read_parquet(i.tuned_predictions),
        pd.read_parquet(i.default_predictions),
        evaluation["bootstrap_resamples"],
        evaluation["confidence_level"],
        search.seed,
    )
    workers = [io.read_json(path) for path in i.workers]
    summary = tuning.summarise(
        search, study, workers, io.read_json(i.tuned), io.read_json(i.default), gain
    )
    summary["mlflow_run_id"] = record["mlflow_run_id"]
    log.info("%s", summary)
    frame = tuning.trials_frame(study)
    io.write_csv(o.trials, frame)
    reach = tuning.trials_to_reach(frame, search.direction)
    ylabel = {"auc": "validation AUC", "log_loss": "validation log-loss"}[search.objective]
    title = f"{search.model} on {search.features}: {len(frame)} trials, {len(workers)} worker(s)"
    plotting.save_figure(
        progress_figure(reach, frame, summary["validation_default"], ylabel, title), o.progress
    )
    for name, figure in optuna_figures(study, f"{search.model} on {search.features}").items():
        plotting.save_figure(figure, o[name])
    run = add_to_run(i.experiments, record["mlflow_run_id"])
    run.log_metrics(
        {
            "validation_best": summary["validation_best"],
            "test_auc_tuned": summary["tuned"]["auc"],
            "test_auc_default": summary["default"]["auc"],
            "test_gain": summary["gain"],
            "pruned_fraction": summary["pruned_fraction"],
        }
    )
    for name in ("progress", "history", "importances", "parallel", "trials"):
        run.log_artifact(o[name], "tuning")
    io.write_json(o.summary, summary)
