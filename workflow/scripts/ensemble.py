"""Rule ensemble: an ensemble study (wildcard ``study``: ``ensemble``, a deep ensemble of
ANNs whose members differ by seed; ``bdt_bootstrap``, BDTs trained on resamples of the
training split); the per-event spread of the members' test predictions, checked against
the exact posterior where it is known. What differs between the studies is data, the
params ``spec`` (the study's entry of :data:`mlhep.stages.model_studies.MODEL_STUDIES`)."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io, plotting
from mlhep.data import get_kind
from mlhep.evaluation.limit import limit_scores
from mlhep.models import MODELS
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log
from mlhep.studies.ensembles import (
    EnsembleStudy,
    ensemble_result,
    member_settings,
    train_ensemble,
    training_prior,
)

with script_log(snakemake.log[0]) as log:
    p, features = snakemake.params, snakemake.wildcards.features
    study = EnsembleStudy.from_spec(p.spec)
    splits = {s: pd.read_parquet(snakemake.input[s]) for s in ("train", "validation", "test")}
    probabilities = train_ensemble(
        study,
        splits,
        p.columns,
        member_settings(study, p.model, p.ensemble),
        p.ensemble["members"],
        p.seed,
        resolve_device(p.device, gpu_capable=MODELS[study.model].gpu),
        snakemake.threads,
        log,
    )
    limit = limit_scores(get_kind(p.kind).limit, splits["test"], p.columns) if p.limit else None
    summary, p_star = ensemble_result(
        probabilities, splits["test"], limit, training_prior(study, splits["train"])
    )
    log.info("ensemble: %s", summary)
    figure = plotting.ensemble_figure(
        probabilities,
        splits["test"]["label"].to_numpy(),
        p_star,
        summary,
        title=f"{study.title}, {features}",
    )
    plotting.save_figure(figure, snakemake.output.plot)
    io.write_json(snakemake.output.summary, {"feature_set": features, **summary})
