rule bayes_optimal:
    """The exact Bayes-optimal ROC AUC of each feature set on the test split (datasets.<name>.
    limit), logged to MLflow."""
    input:
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        "results/evaluation/{dataset}/bayes_optimal.json",
    log:
        "results/logs/bayes_optimal/{dataset}.log",
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        kind=dataset_kind,
        feature_sets=limit_sets,
        bootstrap_resamples=config["evaluation"]["bootstrap_resamples"],
        seed=config["seed"],
    script:
        "../scripts/bayes_optimal.py"
