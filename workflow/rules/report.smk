rule render_report:
    """The analysis report: the notebook run by papermill over the results, then nbconvert
    to one self-contained HTML page with the code hidden."""
    input:
        results=lambda wildcards: manifest_files(PLAN.manifest()),
        notebook=f"{workflow.basedir}/workflow/notebooks/report.ipynb",
    output:
        html=report(
            paths.REPORT_HTML,
            caption="../report/analysis_report.rst",
            category="Report",
            labels={"document": "analysis report (HTML)"},
        ),
        notebook=paths.REPORT_NOTEBOOK,
    log:
        "results/logs/render_report.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        manifest=PLAN.manifest(),
        config=canonical({k: v for k, v in config.items() if k != "cluster"}),
        source_dir=lambda wildcards, input: str(Path(input.notebook).parents[2]),
        timeout=config["report"]["timeout"],
    script:
        "../scripts/render_report.py"
