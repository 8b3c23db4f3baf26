"""Rule features: events tree -> parquet with low-level and engineered columns."""


from mlhep import io
from mlhep.data.dimuon.generate import build_features
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    table = build_features(snakemake.input[0])
    log.info("%d events, columns %s", len(table), list(table.columns))
    io.write_parquet(snakemake.output[0], table)
