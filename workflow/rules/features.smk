rule features:
    """Read the events tree and write the low-level and engineered columns as parquet."""
    input:
        "results/data/{dataset}/events.root",
    output:
        "results/features/{dataset}/features.parquet",
    log:
        "results/logs/features/{dataset}.log",
    benchmark:
        "results/benchmarks/features/{dataset}.tsv"
    conda:
        "../../envs/mlhep.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/features.py"
