"""Rule evaluate: every metric of one classifier against the exact limit of its feature
set (where the dataset has one), its ROC and score-distribution plots, logged into the
classifier's MLflow run."""

import pandas as pd

from mlhep import io, plotting
from mlhep.data import get_kind
from mlhep.evaluation.classification import evaluate
from mlhep.evaluation.limit import join_limit, limit_scores
from mlhep.models.training import record_prior_log_odds
from mlhep.runlog import script_log
from mlhep.tracking import add_to_run

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    record = io.read_json(snakemake.input.record)
    predictions = pd.read_parquet(snakemake.input.predictions)
    test = pd.read_parquet(snakemake.input.test)
    limit = limit_scores(get_kind(p.kind).limit, test, record["columns"]) if p.limit else None
    settings = p.evaluation
    metrics = evaluate(
        predictions,
        record["loss"],
        limit,
        record_prior_log_odds(record, predictions),
        settings["bootstrap_resamples"],
        settings["confidence_level"],
        settings["ams_regularisation"],
        p.seed,
        settings["calibration"],
    )
    metrics.update(
        dataset=snakemake.wildcards.dataset,
        model=record["model"],
        features=record["features"],
        mlflow_run_id=record["mlflow_run_id"],
    )
    log.info("metrics %s", metrics)
    title = f"{record['model']} on {record['features']}"
    part = {s: predictions[predictions["split"] == s] for s in ("train", "test")}
    y, w = part["test"]["label"].to_numpy(), part["test"]["weight"].to_numpy()
    fig, ax = plotting.new_figure()
    plotting.draw_roc(
        ax,
        {title: (y, part["test"]["score"].to_numpy(), w)},
        bayes=(y, join_limit(limit, part["test"]["event_id"]), w) if limit is not None else None,
    )
    plotting.save_figure(fig, snakemake.output.roc)
    by_class = {
        s: {
            c: part[s].loc[part[s]["label"] == k, "score"].to_numpy()
            for c, k in (("signal", 1), ("background", 0))
        }
        for s in part
    }
    fig, ax = plotting.new_figure()
    plotting.draw_score_distributions(
        ax,
        by_class["train"],
        by_class["test"],
        {"signal": metrics["ks_p_signal"], "background": metrics["ks_p_background"]},
        xlabel=f"{record['model']} score",
        title=title,
    )
    plotting.save_figure(fig, snakemake.output.scores)
    run = add_to_run(snakemake.input.experiments, record["mlflow_run_id"])
    run.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
    if "limit_verdict" in metrics:  # shown in the run list: consistent with the limit?
        run.set_tag("limit_verdict", metrics["limit_verdict"])
    run.log_artifact(snakemake.output.roc, "plots")
    run.log_artifact(snakemake.output.scores, "plots")
    io.write_json(snakemake.output.metrics, metrics)
