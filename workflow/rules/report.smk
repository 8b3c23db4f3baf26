rule render_report:
    """The analysis report: the notebook run by papermill over the results, then nbconvert
    to one self-contained HTML page with the code hidden."""
    input:
        unpack(report_inputs),
    output:
        html=report(
            "results/report/report.html",
            caption="../report/analysis_report.rst",
            category="Report",
            labels={"document": "analysis report (HTML)"},
        ),
        notebook="results/report/report.ipynb",
    log:
        "results/logs/render_report.log",
    conda:
        "../../envs/mlhep.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        notebook=f"{workflow.basedir}/workflow/notebooks/report.ipynb",
        source_dir=workflow.basedir,
        timeout=config["report"]["timeout"],
    script:
        "../scripts/render_report.py"
