"""Rule generator_ablation: one GAN's options added one at a time, kept on validation."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep.generative.jobs import ablate_generator
from mlhep.models.base import resolve_device
from mlhep.runlog import script_log
from mlhep.tracking import RunSpec

with script_log(snakemake.log[0]) as log:
    w, p = snakemake.wildcards, snakemake.params
    device = resolve_device(p.device, gpu_capable=True)
    log.info("ablation of %s on %s from %s", w.generator, device, p.settings)
    spec = RunSpec.for_job(
        snakemake.input.experiments,
        p.dataset,
        snakemake.rule,
        "workflow/scripts/generator_ablation.py",
        dict(p.items()),
    )
    ablate_generator(
        w.generator,
        {"train": snakemake.input.train, "validation": snakemake.input.validation},
        p.settings,
        **p.ablation,
        seed=p.seed,
        device=device,
        output=snakemake.output[0],
        tracking=spec,
    )
