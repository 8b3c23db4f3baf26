"""Rule ann_ensemble: a small deep ensemble of ANNs; the per-event spread of their
predictions on the test split."""

import numpy as np
import pandas as pd
import torch

from mlhep import io, plotting, studies
from mlhep.models import ann
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    settings = {**p.ann, "epochs": p.ensemble["epochs"]}
    settings["min_epochs"] = min(settings["min_epochs"], settings["epochs"])
    columns = p.columns
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    device = torch.device(resolve_device(p.device, gpu_capable=True))
    probabilities = []
    for k in range(p.ensemble["members"]):
        net, info = ann.train(splits["train"], splits["validation"], columns, settings, device,
                              snakemake.threads, p.seed + 1000 + k)  # fmt: skip
        probabilities.append(ann.TorchClassifier(net).predict_proba(splits["test"][columns])[:, 1])
        log.info("member %d: best epoch %d", k, info["best_epoch"])
    probabilities = np.array(probabilities)
    labels = splits["test"]["label"].to_numpy()
    summary = studies.ensemble_summary(labels, probabilities)
    log.info("ensemble: %s", summary)
    plotting.ensemble_spread(labels, probabilities, snakemake.output.plot)
    io.write_json(
        snakemake.output.summary, {"feature_set": snakemake.wildcards.features, **summary}
    )
