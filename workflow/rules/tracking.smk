rule mlflow_init:
    """Create the MLflow store and one experiment per dataset, once, before any job logs."""
    output:
        "results/mlflow/experiments.json",
    log:
        "results/logs/mlflow_init.log",
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        datasets=PLAN.experiments(),
        tracking=canonical(config["tracking"]),
    script:
        "../scripts/mlflow_init.py"
