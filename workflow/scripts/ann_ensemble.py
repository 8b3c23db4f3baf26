"""Rule ann_ensemble: a deep ensemble of ANNs (members differ by seed); the per-event
spread of their test predictions, checked against the exact posterior where it is known."""

import pandas as pd
import torch

from mlhep import io, plotting
from mlhep.data import get_kind
from mlhep.evaluation.calibration import prior_log_odds
from mlhep.evaluation.limit import limit_scores
from mlhep.models import ann
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log
from mlhep.studies.ensembles import ensemble_result, run_ensemble

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    settings = {**p.ann, "epochs": p.ensemble["epochs"]}
    settings["min_epochs"] = min(settings["min_epochs"], settings["epochs"])
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    device = torch.device(resolve_device(p.device, gpu_capable=True))

    def member(train, validation, seed):
        net, info = ann.train(
            train, validation, p.columns, settings, device, snakemake.threads, seed
        )
        log.info("best epoch %d", info["best_epoch"])
        return ann.TorchClassifier(net).predict_proba(splits["test"][p.columns])[:, 1]

    probabilities = run_ensemble(member, splits, p.ensemble["members"], p.seed + 1000, False, log)
    limit = limit_scores(get_kind(p.kind).limit, splits["test"], p.columns) if p.limit else None
    summary, p_star = ensemble_result(
        probabilities, splits["test"], limit, prior_log_odds(splits["train"]["label"].to_numpy())
    )
    log.info("ensemble: %s", summary)
    plotting.ensemble_figure(
        probabilities,
        splits["test"]["label"].to_numpy(),
        p_star,
        summary,
        snakemake.output.plot,
        title=f"ANN deep ensemble, {snakemake.wildcards.features}",
    )
    io.write_json(
        snakemake.output.summary, {"feature_set": snakemake.wildcards.features, **summary}
    )
