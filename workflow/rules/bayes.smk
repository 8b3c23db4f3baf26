rule bayes_optimal:
    """The exact Bayes-optimal discriminant of each feature set (datasets.<name>.limit),
    evaluated like a classifier on the test split, logged to MLflow."""
    input:
        train=split_file("train"),
        validation=split_file("validation"),
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        paths.LIMIT,
    log:
        "results/logs/bayes_optimal/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        kind=dataset_kind,
        feature_sets=lambda wildcards: CLASSIFICATION.limit_feature_sets(wildcards.dataset),
        evaluation=CLASSIFICATION.limit_settings(),
        seed=config["seed"],
    script:
        "../scripts/bayes_optimal.py"
