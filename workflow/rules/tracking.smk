rule mlflow_init:
    """Create the MLflow store and one experiment per dataset, once, before any job logs."""
    output:
        paths.MLFLOW_READY,
    log:
        "results/logs/mlflow_init.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        datasets=PLAN.experiments(),
        tracking=canonical(config["tracking"]),
    script:
        "../scripts/mlflow_init.py"
