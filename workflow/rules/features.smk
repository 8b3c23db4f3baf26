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
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind=dataset_kind,
    script:
        "../scripts/features.py"


rule plot_features:
    """Every feature, signal against background with the physics weights (the report's data)."""
    input:
        "results/features/{dataset}/features.parquet",
    output:
        report(
            "results/features/{dataset}/distributions.png",
            caption="../report/feature_distributions.rst",
            category="Data",
            subcategory="{dataset}",
            labels={"figure": "feature distributions", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/plot_features/{dataset}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        kind=dataset_kind,
        columns=dataset_columns,
    script:
        "../scripts/plot_features.py"
