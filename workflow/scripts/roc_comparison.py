"""Rule roc_comparison: every model on one feature set against its exact limit."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import plotting
from mlhep.data import get_kind
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    p = snakemake.params
    test = pd.read_parquet(snakemake.input.test).set_index("event_id", drop=False)
    y, w = test["label"].to_numpy(), test["weight"].to_numpy()
    curves = {}
    for model, path in zip(p.models, snakemake.input.predictions, strict=True):
        pred = pd.read_parquet(path)
        score = pred[pred["split"] == "test"].set_index("event_id")["score"]
        curves[model] = (y, score.reindex(test.index).to_numpy(), w)  # joined on event_id
    bayes = (y, get_kind(p.kind).limit.scores(test, p.columns), w) if p.limit else None
    title = f"{snakemake.wildcards.dataset}, features: {snakemake.wildcards.features}"
    fig, ax = plotting.new_figure()
    plotting.draw_roc(ax, curves, bayes=bayes, title=title)
    plotting.save_figure(fig, snakemake.output[0])
