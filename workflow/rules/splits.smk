rule split:
    """Stratified, seeded train / validation / test splits with recorded id hashes."""
    input:
        "results/features/{dataset}/features.parquet",
    output:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
        test="results/splits/{dataset}/test.parquet",
        record="results/splits/{dataset}/splits.json",
    log:
        "results/logs/split/{dataset}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        fractions=canonical(config["splits"]),
        seed=config["seed"],
    script:
        "../scripts/split.py"
