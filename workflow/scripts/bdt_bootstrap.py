"""Rule bdt_bootstrap: a bootstrap ensemble of BDTs (each member trained on a resample of
the training split); the per-event spread of their test predictions, checked against the
exact posterior where it is known."""

import pandas as pd

from mlhep import io, plotting
from mlhep.data import get_kind
from mlhep.evaluation.limit import limit_scores
from mlhep.models import bdt
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log
from mlhep.studies.ensembles import ensemble_result, run_ensemble

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    device = resolve_device(p.device, gpu_capable=True)

    def member(train, validation, seed):
        booster, _ = bdt.train(train, validation, p.columns, p.bdt, device, snakemake.threads, seed)
        return booster.predict(bdt.dmatrix(splits["test"], p.columns))

    probabilities = run_ensemble(member, splits, p.ensemble["members"], p.seed + 2000, True, log)
    limit = limit_scores(get_kind(p.kind).limit, splits["test"], p.columns) if p.limit else None
    # class-balanced training: the members' probabilities are posteriors at prior 1:1
    summary, p_star = ensemble_result(probabilities, splits["test"], limit, 0.0)
    log.info("ensemble: %s", summary)
    plotting.ensemble_figure(
        probabilities,
        splits["test"]["label"].to_numpy(),
        p_star,
        summary,
        snakemake.output.plot,
        title=f"BDT bootstrap ensemble, {snakemake.wildcards.features}",
    )
    io.write_json(
        snakemake.output.summary, {"feature_set": snakemake.wildcards.features, **summary}
    )
