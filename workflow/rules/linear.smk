rule train_linear:
    """Fit one linear classifier on one feature set; score every split; MLflow run."""
    input:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        model="results/models/{dataset}/{model}/{features}/model.joblib",
        predictions="results/models/{dataset}/{model}/{features}/predictions.parquet",
        record="results/models/{dataset}/{model}/{features}/train.json",
    log:
        "results/logs/train_linear/{dataset}/{model}/{features}.log",
    benchmark:
        "results/benchmarks/train_linear/{dataset}/{model}/{features}.tsv"
    wildcard_constraints:
        model="|".join(LINEAR_MODELS),
    conda:
        "../../envs/mlhep.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        columns=lambda wildcards: config["features"]["sets"][wildcards.features],
        settings=lambda wildcards: config["models"][wildcards.model],
    script:
        "../scripts/train_linear.py"
