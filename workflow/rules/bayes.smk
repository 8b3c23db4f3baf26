rule bayes_optimal:
    """The exact Bayes-optimal discriminant of each feature set (datasets.<name>.limit),
    evaluated like a classifier on the test split, logged to MLflow."""
    input:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
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
        # what the limit's evaluation uses (not the recalibrations: p* needs none)
        evaluation=canonical(
            {
                k: v
                for k, v in config["evaluation"].items()
                if k not in ("calibration", "regression")
            }
        ),
        seed=config["seed"],
    script:
        "../scripts/bayes_optimal.py"
