"""Rule mlflow_init: create the tracking store and the experiments once."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.runlog import script_log
from mlhep.tracking import create_store

with script_log(snakemake.log[0]) as log:
    record = create_store(snakemake.params.tracking, snakemake.params.datasets)
    log.info("store %s", record)
    io.write_json(snakemake.output[0], record)
