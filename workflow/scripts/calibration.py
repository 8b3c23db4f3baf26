"""Rule calibration: every probabilistic model on one feature set, its probabilities
against the exact posterior and against the labels (reliability diagrams)."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io, plotting
from mlhep.data import get_kind
from mlhep.evaluation.calibration import posterior, reliability
from mlhep.evaluation.limit import join_limit, limit_scores
from mlhep.models.training import record_prior_log_odds
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    test = pd.read_parquet(snakemake.input.test)
    limit = limit_scores(get_kind(p.kind).limit, test, p.columns)
    curves = {}
    for model, path, record in zip(
        p.models, snakemake.input.predictions, snakemake.input.records, strict=True
    ):
        predictions = pd.read_parquet(path)
        if "proba" not in predictions:
            continue  # a model without probabilities (perceptron, linear_mse)
        pred = predictions[predictions["split"] == "test"]
        prior = record_prior_log_odds(io.read_json(record), predictions)
        p_star = posterior(join_limit(limit, pred["event_id"]), prior)
        curves[model] = reliability(pred["proba"].to_numpy(), p_star, pred["label"].to_numpy())
    log.info("reliability of %s", sorted(curves))
    title = f"{snakemake.wildcards.dataset}, features: {snakemake.wildcards.features}"
    plotting.save_figure(plotting.reliability_figure(curves, title=title), snakemake.output.plot)
    io.write_json(snakemake.output.table, curves)
