rule bayes_optimal:
    """The exact Bayes-optimal ROC AUC of each feature set on the test split, logged to MLflow."""
    input:
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        "results/evaluation/{dataset}/bayes_optimal.json",
    log:
        "results/logs/bayes_optimal/{dataset}.log",
    conda:
        "../../envs/mlhep.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        feature_sets=lambda wildcards: config["models"]["bayes_optimal"]["feature_sets"],
    script:
        "../scripts/bayes_optimal.py"
