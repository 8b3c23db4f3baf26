"""Rule split: stratified, seeded train / validation / test splits."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io
from mlhep.features.splits import make_splits
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    table = pd.read_parquet(snakemake.input[0])
    parts, record = make_splits(table, snakemake.params.fractions, snakemake.params.seed)
    for name, part in parts.items():
        io.write_parquet(snakemake.output[name], part)
    log.info("splits %s", record)
    io.write_json(snakemake.output.record, {"seed": snakemake.params.seed, "splits": record})
