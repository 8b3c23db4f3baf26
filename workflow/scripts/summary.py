"""Rule summary: one table of every classifier and the Bayes limits, as CSV and Markdown."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.evaluation.classification import (
    bayes_rows,
    member_spreads,
    summary_markdown,
    summary_table,
)
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    rows = [io.read_json(p) for p in snakemake.input.metrics]
    for path in snakemake.input.bayes:
        rows.extend(bayes_rows(io.read_json(path)))
    ensembles = [
        {**about, "member_auc": io.read_json(path)["member_auc"]}
        for path, about in snakemake.params.ensembles.items()
    ]
    table = summary_table(rows, member_spreads(ensembles))
    io.write_csv(snakemake.output.csv, table)
    io.write_text(snakemake.output.md, summary_markdown(table))
    log.info("summary of %d rows:\n%s", len(table), summary_markdown(table))
