rule evaluate:
    """Every metric of one classifier against its Bayes limit; ROC and score plots."""
    input:
        predictions=paths.PREDICTIONS,
        record=paths.RECORD,
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        metrics=paths.METRICS,
        roc=report(
            paths.ROC,
            caption="../report/roc.rst",
            category="Classifiers",
            subcategory="{model}",
            labels={"figure": "ROC", "model": "{model}", "features": "{features}"},
        ),
        scores=report(
            paths.SCORES,
            caption="../report/scores.rst",
            category="Classifiers",
            subcategory="{model}",
            labels={"figure": "scores", "model": "{model}", "features": "{features}"},
        ),
    log:
        "results/logs/evaluate/{dataset}/{model}/{features}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        kind=dataset_kind,
        limit=has_limit,
        evaluation=CLASSIFICATION.evaluation_settings(),
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule roc_comparison:
    """Every classifier on one feature set, with the Bayes limit, on one ROC plot."""
    input:
        predictions=lambda wildcards: CLASSIFICATION.predictions(
            wildcards.dataset, wildcards.features
        ),
        test=split_file("test"),
    output:
        report(
            paths.ROC_COMPARISON,
            caption="../report/roc_comparison.rst",
            category="Classifiers",
            subcategory="Comparison",
            labels={"figure": "ROC", "features": "{features}"},
        ),
    log:
        "results/logs/roc_comparison/{dataset}/{features}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=lambda wildcards: PLAN.models_on(wildcards.dataset, wildcards.features),
        columns=columns_of,
        kind=dataset_kind,
        limit=has_limit,
    script:
        "../scripts/roc_comparison.py"


rule calibration:
    """Every probabilistic model on one feature set against the exact posterior and the
    labels (reliability diagrams)."""
    input:
        predictions=lambda wildcards: CLASSIFICATION.predictions(
            wildcards.dataset, wildcards.features
        ),
        records=lambda wildcards: CLASSIFICATION.records(wildcards.dataset, wildcards.features),
        test=split_file("test"),
    output:
        plot=report(
            paths.CALIBRATION_PLOT,
            caption="../report/calibration.rst",
            category="Uncertainty",
            subcategory="Reliability against the truth",
            labels={"figure": "reliability", "features": "{features}"},
        ),
        table=paths.CALIBRATION_TABLE,
    log:
        "results/logs/calibration/{dataset}/{features}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=lambda wildcards: PLAN.models_on(wildcards.dataset, wildcards.features),
        columns=columns_of,
        kind=dataset_kind,
    script:
        "../scripts/calibration.py"


rule summary:
    """One table of every classifier and the Bayes limits (CSV and Markdown)."""
    input:
        metrics=CLASSIFICATION.summary_inputs()["metrics"],
        bayes=CLASSIFICATION.summary_inputs()["bayes"],
        ensembles=list(MODEL_STUDIES.ensemble_results()),
    output:
        csv=report(
            paths.SUMMARY_CSV,
            caption="../report/summary.rst",
            category="Classifiers",
            subcategory="Summary",
            labels={"table": "summary (CSV)"},
        ),
        md=paths.SUMMARY_MD,
    log:
        "results/logs/summary.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        ensembles=MODEL_STUDIES.ensemble_results(),
    script:
        "../scripts/summary.py"


rule training_curves:
    """Loss (and ROC AUC where recorded) per training step of one model, every feature set."""
    input:
        lambda wildcards: CLASSIFICATION.curve_records(wildcards.dataset, wildcards.model),
    output:
        report(
            paths.TRAINING_CURVES,
            caption="../report/training_curves.rst",
            category="Classifiers",
            subcategory="{model}",
            labels={"figure": "training curves", "model": "{model}", "features": "all sets"},
        ),
    log:
        "results/logs/training_curves/{dataset}/{model}.log",
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/training_curves.py"
