"""Rule render_report: run the report notebook over the results and write it as HTML."""


from mlhep import report, tracking
from mlhep.runlog import script_log

with script_log(snakemake.log[0]) as log:
    inputs = {
        name: [files] if isinstance(files, str) else list(files)
        for name, files in snakemake.input.items()
    }
    parameters = {
        "config": dict(snakemake.config),
        "inputs": inputs,
        "git_commit": tracking.git_commit(snakemake.params.source_dir),
    }
    log.info(
        "rendering %s from %d result files", snakemake.output.html, sum(map(len, inputs.values()))
    )
    report.render(
        snakemake.output.html,
        parameters,
        executed_path=snakemake.output.notebook,
        notebook=snakemake.params.notebook,
        timeout=snakemake.params.timeout,
    )
