rule features:
    """Read the events tree and write the low-level and engineered columns as parquet."""
    input:
        paths.EVENTS,
    output:
        paths.FEATURES,
    log:
        "results/logs/features/{dataset}.log",
    conda:
        CONDA_ENV
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
        paths.FEATURES,
    output:
        report(
            paths.DISTRIBUTIONS,
            caption="../report/feature_distributions.rst",
            category="Data",
            subcategory="{dataset}",
            labels={"figure": "feature distributions", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/plot_features/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        kind=dataset_kind,
        columns=lambda wildcards: PLAN.all_columns(wildcards.dataset),
    script:
        "../scripts/plot_features.py"
