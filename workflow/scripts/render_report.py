"""Rule render_report: run the report notebook over the results named by the manifest and
write it as one self-contained HTML page."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import report, tracking
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    parameters = {
        "config": dict(p.config),
        "manifest": dict(p.manifest),
        "git_commit": tracking.git_commit(p.source_dir),
    }
    log.info(
        "rendering %s from %d result files", snakemake.output.html, len(snakemake.input.results)
    )
    report.render(
        snakemake.output.html,
        parameters,
        executed_path=snakemake.output.notebook,
        notebook=snakemake.input.notebook,
        timeout=p.timeout,
    )
