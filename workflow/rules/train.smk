rule train_sklearn:
    """Fit one scikit-learn classifier (linear models, the tree) on one feature set; MLflow run."""
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
        "results/logs/train_sklearn/{dataset}/{model}/{features}.log",
    benchmark:
        "results/benchmarks/train_sklearn/{dataset}/{model}/{features}.tsv"
    wildcard_constraints:
        model="|".join(SKLEARN_MODELS),
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
        "../scripts/train_sklearn.py"


rule train_bdt:
    """XGBoost on one feature set with early stopping; MLflow run (xgboost flavour)."""
    input:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        model="results/models/{dataset}/bdt/{features}/model.ubj",
        predictions="results/models/{dataset}/bdt/{features}/predictions.parquet",
        record="results/models/{dataset}/bdt/{features}/train.json",
    log:
        "results/logs/train_bdt/{dataset}/{features}.log",
    benchmark:
        "results/benchmarks/train_bdt/{dataset}/{features}.tsv"
    conda:
        "../../envs/mlhep.yaml"
    threads: config["models"]["bdt"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_REQUEST,
    params:
        columns=lambda wildcards: config["features"]["sets"][wildcards.features],
        settings=config["models"]["bdt"],
    script:
        "../scripts/train_bdt.py"


rule train_ann:
    """A PyTorch MLP on one feature set with early stopping; MLflow run (pytorch flavour)."""
    input:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        model="results/models/{dataset}/ann/{features}/model.pt",
        predictions="results/models/{dataset}/ann/{features}/predictions.parquet",
        record="results/models/{dataset}/ann/{features}/train.json",
    log:
        "results/logs/train_ann/{dataset}/{features}.log",
    benchmark:
        "results/benchmarks/train_ann/{dataset}/{features}.tsv"
    conda:
        "../../envs/mlhep.yaml"
    threads: config["models"]["ann"]["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        columns=lambda wildcards: config["features"]["sets"][wildcards.features],
        settings=config["models"]["ann"],
    script:
        "../scripts/train_ann.py"
