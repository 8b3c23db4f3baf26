"""Rule features: events tree -> parquet with the dataset kind's feature columns."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.data import get_kind
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    table = get_kind(snakemake.params.kind).build_features(snakemake.input[0])
    log.info("%d events, columns %s", len(table), list(table.columns))
    io.write_parquet(snakemake.output[0], table)
