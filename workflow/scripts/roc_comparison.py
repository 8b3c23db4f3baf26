"""Rule roc_comparison: every model on one feature set against its Bayes limit."""

import pandas as pd

from mlhep import plotting
from mlhep.evaluation.limit import bayes_scores
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    test = pd.read_parquet(snakemake.input.test)
    y, w = test["label"].to_numpy(), test["weight"].to_numpy()
    curves = {}
    for model, path in zip(snakemake.params.models, snakemake.input.predictions, strict=True):
        pred = pd.read_parquet(path)
        curves[model] = (y, pred.loc[pred["split"] == "test", "score"].to_numpy(), w)
    bayes = bayes_scores(test, snakemake.params.columns)
    title = f"{snakemake.wildcards.dataset}, features: {snakemake.wildcards.features}"
    plotting.roc(curves, snakemake.output[0], bayes=(y, bayes, w), title=title)
