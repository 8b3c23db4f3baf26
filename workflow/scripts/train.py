"""Rule train (and train_gpu): one model on one feature set through the one training path."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep.models import MODELS
from mlhep.models.base import FitContext, resolve_device
from mlhep.models.training import TrainingJob, train
from mlhep.runlog import script_log
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    device = resolve_device(p.device, MODELS[w.model].gpu)
    job = TrainingJob(
        model=w.model,
        dataset=w.dataset,
        features=w.features,
        columns=p.columns,
        settings=p.settings,
        context=FitContext(p.seed, device, snakemake.threads, p.physics),
        model_dir=snakemake.output.model,
        predictions=snakemake.output.predictions,
        record=snakemake.output.record,
    )
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        w.dataset,
        snakemake.rule,
        "workflow/scripts/train.py",
        dict(p.items()),
    )
    splits = {s: snakemake.input[s] for s in ("train", "validation", "test")}
    record = train(job, splits, spec)
    log.info("%s on %s: record %s", w.model, w.features, snakemake.output.record)
