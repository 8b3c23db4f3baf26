"""Rule generalization_selection: one table of every study's chosen point, with its test
score and generalization gap."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io
from mlhep.runlog import script_log
from mlhep.studies.generalization import selection_markdown

with script_log(snakemake.log[0]) as log:
    rows = [row for path in snakemake.input for row in io.read_json(path)["selection"]]
    table = pd.DataFrame(
        rows, columns=["study", "chosen", "metric", "validation", "train", "test", "gap"]
    )
    io.write_csv(snakemake.output.table, table)
    io.write_text(snakemake.output.markdown, selection_markdown(table))
    log.info("\n%s", table.to_string())
