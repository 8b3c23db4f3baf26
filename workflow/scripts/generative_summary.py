"""Rule generative_summary: the fidelity table and the comparison figures."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep.generative.jobs import summarise
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    table = summarise(
        snakemake.input.floor,
        dict(zip(p.generators, snakemake.input.fidelity, strict=True)),
        dict(zip(p.generators, snakemake.input.samples, strict=True)),
        snakemake.input.test,
        p.settings,
        seed=p.seed,
        outputs=dict(snakemake.output.items()),
    )
    log.info("\n%s", table.to_string(index=False))
