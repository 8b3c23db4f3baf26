rule evaluate:
    """Every metric of one classifier against its Bayes limit; ROC and score plots."""
    input:
        predictions="results/models/{dataset}/{model}/{features}/predictions.parquet",
        record="results/models/{dataset}/{model}/{features}/train.json",
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        metrics="results/evaluation/{dataset}/{model}/{features}/metrics.json",
        roc=report(
            "results/evaluation/{dataset}/{model}/{features}/roc.png",
            caption="../report/roc.rst",
            category="Classifiers",
            subcategory="{model}",
            labels={"figure": "ROC", "model": "{model}", "features": "{features}"},
        ),
        scores=report(
            "results/evaluation/{dataset}/{model}/{features}/scores.png",
            caption="../report/scores.rst",
            category="Classifiers",
            subcategory="{model}",
            labels={"figure": "scores", "model": "{model}", "features": "{features}"},
        ),
    log:
        "results/logs/evaluate/{dataset}/{model}/{features}.log",
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        kind=dataset_kind,
        limit=lambda wildcards: PLAN.has_limit(wildcards.dataset, wildcards.features),
        evaluation=classifier_evaluation(),
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule roc_comparison:
    """Every classifier on one feature set, with the Bayes limit, on one ROC plot."""
    input:
        predictions=predictions_of,
        test="results/splits/{dataset}/test.parquet",
    output:
        report(
            "results/evaluation/{dataset}/roc_{features}.png",
            caption="../report/roc_comparison.rst",
            category="Classifiers",
            subcategory="Comparison",
            labels={"figure": "ROC", "features": "{features}"},
        ),
    log:
        "results/logs/roc_comparison/{dataset}/{features}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=lambda wildcards: PLAN.models_on(wildcards.dataset, wildcards.features),
        columns=columns_of,
        kind=dataset_kind,
        limit=lambda wildcards: PLAN.has_limit(wildcards.dataset, wildcards.features),
    script:
        "../scripts/roc_comparison.py"


rule calibration:
    """Every probabilistic model on one feature set against the exact posterior and the
    labels (reliability diagrams)."""
    input:
        predictions=predictions_of,
        records=lambda wildcards: [
            f"{Plan.model_dir(wildcards.dataset, m, wildcards.features)}/train.json"
            for m in PLAN.models_on(wildcards.dataset, wildcards.features)
        ],
        test="results/splits/{dataset}/test.parquet",
    output:
        plot=report(
            "results/evaluation/{dataset}/calibration_{features}.png",
            caption="../report/calibration.rst",
            category="Uncertainty",
            subcategory="Reliability against the truth",
            labels={"figure": "reliability", "features": "{features}"},
        ),
        table="results/evaluation/{dataset}/calibration_{features}.json",
    log:
        "results/logs/calibration/{dataset}/{features}.log",
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
        metrics=summary_metrics,
        bayes=summary_limits,
    output:
        csv=report(
            "results/evaluation/summary.csv",
            caption="../report/summary.rst",
            category="Classifiers",
            subcategory="Summary",
            labels={"table": "summary (CSV)"},
        ),
        md="results/evaluation/summary.md",
    log:
        "results/logs/summary.log",
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/summary.py"


rule training_curves:
    """Loss (and ROC AUC where recorded) per training step of one model, every feature set."""
    input:
        lambda wildcards: [
            f"{Plan.model_dir(wildcards.dataset, wildcards.model, f)}/train.json"
            for f in PLAN.feature_sets_of(wildcards.dataset, wildcards.model)
        ],
    output:
        report(
            "results/evaluation/{dataset}/training_{model}.png",
            caption="../report/training_curves.rst",
            category="Classifiers",
            subcategory="{model}",
            labels={"figure": "training curves", "model": "{model}", "features": "all sets"},
        ),
    log:
        "results/logs/training_curves/{dataset}/{model}.log",
    wildcard_constraints:
        model="|".join(MODELS),
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/training_curves.py"
