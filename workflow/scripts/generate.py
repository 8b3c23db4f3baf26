"""Rule generate: a dataset's events, produced by its kind's plug-in, as a ROOT TTree."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.data import get_kind
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    settings = snakemake.params.settings
    record = get_kind(settings["kind"]).produce(
        snakemake.output.events,
        settings,
        snakemake.params.seed,
        dataset=snakemake.wildcards.dataset,
    )
    log.info("produced %s", record)
    io.write_json(snakemake.output.record, record)
