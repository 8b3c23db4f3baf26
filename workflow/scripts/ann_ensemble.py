"""Rule ann_ensemble: a small deep ensemble of ANNs; the per-event spread of their
predictions on the test split."""

import numpy as np
import pandas as pd

from mlhep import io, plotting, studies

from mlhep.models import ann
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    settings = {**snakemake.config["models"]["ann"], "epochs": snakemake.params.ensemble["epochs"]}
    settings["min_epochs"] = min(settings["min_epochs"], settings["epochs"])
    columns = snakemake.params.columns
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    device = ann.resolve_device(snakemake.config["device"])
    probabilities = []
    for k in range(snakemake.params.ensemble["members"]):
        net, info = ann.train(splits["train"], splits["validation"], columns, settings, device,
                              snakemake.threads, snakemake.config["seed"] + 1000 + k)  # fmt: skip
        probabilities.append(
            ann.TorchClassifier(net, columns).predict_proba(splits["test"][columns])[:, 1]
        )
        log.info("member %d: best epoch %d", k, info["best_epoch"])
    probabilities = np.array(probabilities)
    labels = splits["test"]["label"].to_numpy()
    summary = studies.ensemble_summary(labels, probabilities)
    log.info("ensemble: %s", summary)
    plotting.ensemble_spread(labels, probabilities, snakemake.output.plot)
    io.write_json(
        snakemake.output.summary, {"feature_set": snakemake.wildcards.features, **summary}
    )
