"""Rule mlflow_init: create the tracking store and the experiments once."""

from mlhep import io
from mlhep.runlog import script_log
from mlhep.tracking import experiment_name, init_store, tracking_uri

with script_log(snakemake.log[0]) as log:
    tracking = snakemake.params.tracking
    uri = tracking_uri(tracking)
    names = {ds: experiment_name(tracking, ds) for ds in snakemake.params.datasets}
    ids = init_store(uri, names.values())
    log.info("store %s, experiments %s", uri, ids)
    io.write_json(
        snakemake.output[0],
        {
            "tracking_uri": uri,
            "experiments": {ds: {"name": n, "id": ids[n]} for ds, n in names.items()},
        },
    )
