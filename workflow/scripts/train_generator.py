"""Rule train_generator: one generator trained, saved, drawn and tracked."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep.generative.jobs import train_generator
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    device = resolve_device(p.device, gpu_capable=True)
    log.info("%s on %s, %d thread(s): %s", w.generator, device, snakemake.threads, p.settings)
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        p.dataset,
        snakemake.rule,
        "workflow/scripts/train_generator.py",
        dict(p.items()),
    )
    train_generator(
        w.generator,
        {"train": snakemake.input.train, "validation": snakemake.input.validation},
        p.settings,
        p.monitor_events,
        seed=p.seed,
        device=device,
        threads=snakemake.threads,
        outputs=dict(snakemake.output.items()),
        tracking=spec,
    )
