rule split:
    """Stratified, seeded train / validation / test splits with recorded id hashes."""
    input:
        paths.FEATURES,
    output:
        train=split_file("train"),
        validation=split_file("validation"),
        test=split_file("test"),
        record=paths.SPLITS_RECORD,
    log:
        "results/logs/split/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        fractions=canonical(config["splits"]),
        seed=config["seed"],
    script:
        "../scripts/split.py"
