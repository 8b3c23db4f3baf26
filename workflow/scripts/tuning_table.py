"""Rule tuning_table: every search, tuned against default against the limit."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io
from mlhep.runlog import script_log
from mlhep.studies import tuning

with script_log(snakemake.log[0]) as log:
    frame = tuning.table([io.read_json(path) for path in snakemake.input])
    io.write_csv(snakemake.output.csv, frame)
    markdown = tuning.markdown(frame)
    log.info("\n%s", markdown)
    io.write_text(snakemake.output.md, markdown)
