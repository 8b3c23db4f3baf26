"""Rule summary: one table of every classifier and the Bayes limits, as CSV and Markdown."""

from mlhep import io
from mlhep.evaluation.classification import bayes_rows, summary_markdown, summary_table
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    rows = [io.read_json(p) for p in snakemake.input.metrics]
    for path in snakemake.input.bayes:
        rows.extend(bayes_rows(io.read_json(path)))
    table = summary_table(rows)
    io.write_csv(snakemake.output.csv, table)
    io.write_text(snakemake.output.md, summary_markdown(table))
    log.info("summary of %d rows:\n%s", len(table), summary_markdown(table))
