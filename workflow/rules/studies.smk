rule plot_tree:
    """Draw the shallow decision tree with its cuts."""
    input:
        model="results/models/{dataset}/decision_tree/{features}/model",
        record="results/models/{dataset}/decision_tree/{features}/train.json",
    output:
        report(
            "results/studies/{dataset}/decision_tree/{features}/tree.png",
            caption="../report/decision_tree.rst",
            category="Lecture",
            subcategory="Decision trees",
            labels={"figure": "tree", "features": "{features}"},
        ),
    log:
        "results/logs/plot_tree/{dataset}/{features}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_tree.py"


rule bdt_shap:
    """SHAP values of the BDT on test events: summary plot and ranking."""
    input:
        model="results/models/{dataset}/bdt/{features}/model",
        record="results/models/{dataset}/bdt/{features}/train.json",
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        plot=report(
            "results/studies/{dataset}/bdt/{features}/shap.png",
            caption="../report/shap.rst",
            category="Interpretability",
            subcategory="BDT",
            labels={"figure": "SHAP summary", "features": "{features}"},
        ),
        ranking="results/studies/{dataset}/bdt/{features}/shap.json",
    log:
        "results/logs/bdt_shap/{dataset}/{features}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=canonical(config["studies"]["shap"]),
        seed=config["seed"],
    script:
        "../scripts/bdt_shap.py"


rule ann_importance:
    """Permutation importance of the ANN inputs."""
    input:
        model="results/models/{dataset}/ann/{features}/model",
        record="results/models/{dataset}/ann/{features}/train.json",
        test="results/splits/{dataset}/test.parquet",
        experiments=MLFLOW_READY,
    output:
        plot=report(
            "results/studies/{dataset}/ann/{features}/importance.png",
            caption="../report/importance.rst",
            category="Interpretability",
            subcategory="ANN",
            labels={"figure": "permutation importance", "features": "{features}"},
        ),
        table="results/studies/{dataset}/ann/{features}/importance.json",
    log:
        "results/logs/ann_importance/{dataset}/{features}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=canonical(config["studies"]["permutation_importance"]),
        seed=config["seed"],
    script:
        "../scripts/ann_importance.py"


rule ann_ensemble:
    """A deep ensemble of ANNs: the per-event spread of the prediction, checked against
    the exact posterior."""
    input:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
        test="results/splits/{dataset}/test.parquet",
    output:
        plot=report(
            "results/studies/{dataset}/ensemble/{features}/spread.png",
            caption="../report/ensemble.rst",
            category="Uncertainty",
            subcategory="ANN deep ensemble",
            labels={"figure": "spread and coverage", "features": "{features}"},
        ),
        summary="results/studies/{dataset}/ensemble/{features}/ensemble.json",
    log:
        "results/logs/ann_ensemble/{dataset}/{features}.log",
    benchmark:
        "results/benchmarks/ann_ensemble/{dataset}/{features}.tsv"
    threads: config["models"]["ann"]["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        columns=columns_of,
        ann=canonical(hyperparameters(config["models"]["ann"])),
        ensemble=canonical(config["studies"]["ensemble"]),
        kind=dataset_kind,
        limit=lambda wildcards: PLAN.has_limit(wildcards.dataset, wildcards.features),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/ann_ensemble.py"


rule bdt_bootstrap:
    """A bootstrap ensemble of BDTs: the per-event spread of the prediction, checked
    against the exact posterior."""
    input:
        train="results/splits/{dataset}/train.parquet",
        validation="results/splits/{dataset}/validation.parquet",
        test="results/splits/{dataset}/test.parquet",
    output:
        plot=report(
            "results/studies/{dataset}/bdt_bootstrap/{features}/spread.png",
            caption="../report/ensemble.rst",
            category="Uncertainty",
            subcategory="BDT bootstrap ensemble",
            labels={"figure": "spread and coverage", "features": "{features}"},
        ),
        summary="results/studies/{dataset}/bdt_bootstrap/{features}/ensemble.json",
    log:
        "results/logs/bdt_bootstrap/{dataset}/{features}.log",
    benchmark:
        "results/benchmarks/bdt_bootstrap/{dataset}/{features}.tsv"
    threads: config["models"]["bdt"]["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        columns=columns_of,
        bdt=canonical(hyperparameters(config["models"]["bdt"])),
        ensemble=canonical(config["studies"]["bdt_bootstrap"]),
        kind=dataset_kind,
        limit=lambda wildcards: PLAN.has_limit(wildcards.dataset, wildcards.features),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/bdt_bootstrap.py"


rule z_peak:
    """An unbinned maximum-likelihood fit of the Z peak (Voigt over an exponential, iminuit)
    against the PDG values, with pulls and a goodness of fit from refitted toys."""
    input:
        features="results/features/{dataset}/features.parquet",
    output:
        fit="results/studies/{dataset}/z_peak/fit.json",
        figure=report(
            "results/studies/{dataset}/z_peak/fit.png",
            caption="../report/z_peak.rst",
            category="Z peak",
            subcategory="{dataset}",
            labels={"figure": "fit and pulls", "dataset": "{dataset}"},
        ),
        gof=report(
            "results/studies/{dataset}/z_peak/gof.png",
            caption="../report/z_peak_gof.rst",
            category="Z peak",
            subcategory="{dataset}",
            labels={"figure": "goodness of fit", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/z_peak/{dataset}.log",
    benchmark:
        "results/benchmarks/z_peak/{dataset}.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        label=config["studies"]["z_peak"]["label"],
        column=config["studies"]["z_peak"]["column"],
        window=config["studies"]["z_peak"]["window"],
        bins=config["studies"]["z_peak"]["bins"],
        toys=config["studies"]["z_peak"]["toys"],
        seed=config["seed"],
    script:
        "../scripts/z_peak.py"
