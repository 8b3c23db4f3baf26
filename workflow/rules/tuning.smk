wildcard_constraints:
    worker="[0-9]+",


rule tune_study:
    """Create a search's Optuna study in its storage (the default settings its first trial)
    and its MLflow parent run; it runs again only when what the search means changes."""
    input:
        unpack(split_files),
        experiments=paths.MLFLOW_READY,
    output:
        paths.TUNING_STUDY,
    log:
        "results/logs/tune_study/{dataset}/{model}/{features}.log",
    wildcard_constraints:
        model="|".join(TUNED_MODELS) or "no-model",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        search=search_of,
    script:
        "../scripts/tune_study.py"


rule tune_worker:
    """One worker of a search: trials until the study holds studies.tuning.trials, each an
    MLflow child run; the workers of a search share its storage and run in parallel (on a
    GPU where the cluster profile gives one)."""
    input:
        study=paths.TUNING_STUDY,
        train=split_file("train"),
        validation=split_file("validation"),
        experiments=paths.MLFLOW_READY,
    output:
        paths.TUNING_WORKER,
    log:
        "results/logs/tune_worker/{dataset}/{model}/{features}/{worker}.log",
    wildcard_constraints:
        model="|".join(TUNED_MODELS) or "no-model",
    conda:
        CONDA_ENV
    threads: config["studies"]["tuning"]["threads"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=GPU_REQUEST,
    params:
        search=search_of,
        trials=config["studies"]["tuning"]["trials"],
        device=device_of,
    script:
        "../scripts/tune_worker.py"


rule tune_best:
    """The search's best trial (chosen on validation) retrained on the train split through
    the one training path: its model, predictions and record, an MLflow child run."""
    input:
        unpack(split_files),
        study=paths.TUNING_STUDY,
        workers=lambda wildcards: TUNING.worker_files(
            wildcards.dataset, wildcards.model, wildcards.features
        ),
        experiments=paths.MLFLOW_READY,
    output:
        model=directory(paths.TUNED_FILES["model"]),
        predictions=paths.TUNED_FILES["predictions"],
        record=paths.TUNED_FILES["record"],
    log:
        "results/logs/tune_best/{dataset}/{model}/{features}.log",
    wildcard_constraints:
        model="|".join(TUNED_MODELS) or "no-model",
    conda:
        CONDA_ENV
    threads: config["studies"]["tuning"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU_REQUEST,
    params:
        search=search_of,
        device=device_of,
    script:
        "../scripts/tune_best.py"


use rule evaluate as evaluate_tuned with:
    input:
        predictions=paths.TUNED_FILES["predictions"],
        record=paths.TUNED_FILES["record"],
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        metrics=paths.TUNED_EVALUATION["metrics"],
        roc=report(
            paths.TUNED_EVALUATION["roc"],
            caption="../report/roc.rst",
            category="Tuning",
            subcategory="{model} on {features}",
            labels={"figure": "ROC (tuned)", "model": "{model}", "features": "{features}"},
        ),
        scores=report(
            paths.TUNED_EVALUATION["scores"],
            caption="../report/scores.rst",
            category="Tuning",
            subcategory="{model} on {features}",
            labels={"figure": "scores (tuned)", "model": "{model}", "features": "{features}"},
        ),
    log:
        "results/logs/evaluate_tuned/{dataset}/{model}/{features}.log",
    wildcard_constraints:
        model="|".join(TUNED_MODELS) or "no-model",


rule tuning_summary:
    """A search against the default settings and the limit: trials by state and worker,
    trials-to-reach, Optuna's plots, the paired test gain; logged to the study's run."""
    input:
        study=paths.TUNING_STUDY,
        workers=lambda wildcards: TUNING.worker_files(
            wildcards.dataset, wildcards.model, wildcards.features
        ),
        tuned=paths.TUNED_EVALUATION["metrics"],
        tuned_predictions=paths.TUNED_FILES["predictions"],
        default=paths.METRICS,
        default_predictions=paths.PREDICTIONS,
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        summary=paths.TUNING_FILES["summary"],
        trials=paths.TUNING_FILES["trials"],
        progress=report(
            paths.TUNING_FILES["progress"],
            caption="../report/tuning_progress.rst",
            category="Tuning",
            subcategory="{model} on {features}",
            labels={"figure": "trials to reach", "model": "{model}", "features": "{features}"},
        ),
        history=report(
            paths.TUNING_FILES["history"],
            caption="../report/tuning_optuna.rst",
            category="Tuning",
            subcategory="{model} on {features}",
            labels={"figure": "history", "model": "{model}", "features": "{features}"},
        ),
        importances=report(
            paths.TUNING_FILES["importances"],
            caption="../report/tuning_optuna.rst",
            category="Tuning",
            subcategory="{model} on {features}",
            labels={"figure": "importances", "model": "{model}", "features": "{features}"},
        ),
        parallel=report(
            paths.TUNING_FILES["parallel"],
            caption="../report/tuning_optuna.rst",
            category="Tuning",
            subcategory="{model} on {features}",
            labels={
                "figure": "parallel coordinates",
                "model": "{model}",
                "features": "{features}",
            },
        ),
    log:
        "results/logs/tuning_summary/{dataset}/{model}/{features}.log",
    wildcard_constraints:
        model="|".join(TUNED_MODELS) or "no-model",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        search=search_of,
        evaluation=CLASSIFICATION.evaluation_settings(),
    script:
        "../scripts/tuning_summary.py"


rule tuning_table:
    """Every search in one table: tuned against default against the limit (CSV, Markdown)."""
    input:
        TUNING.summaries(),
    output:
        csv=report(
            paths.TUNING_CSV,
            caption="../report/tuning_table.rst",
            category="Tuning",
            subcategory="Summary",
            labels={"table": "tuned against default"},
        ),
        md=paths.TUNING_MD,
    log:
        "results/logs/tuning_table.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/tuning_table.py"
