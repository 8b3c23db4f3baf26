rule plot_tree:
    """Draw the shallow decision tree with its cuts."""
    input:
        model=study_model("tree", "model"),
        record=study_model("tree", "record"),
    output:
        report(
            study_output("tree", "tree.png"),
            caption="../report/decision_tree.rst",
            category="Lecture",
            subcategory="Decision trees",
            labels={"figure": "tree", "features": "{features}"},
        ),
    log:
        "results/logs/plot_tree/{dataset}/{features}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_tree.py"


rule bdt_shap:
    """SHAP values of the BDT on test events: summary plot and ranking."""
    input:
        model=study_model("shap", "model"),
        record=study_model("shap", "record"),
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        plot=report(
            study_output("shap", "shap.png"),
            caption="../report/shap.rst",
            category="Interpretability",
            subcategory="BDT",
            labels={"figure": "SHAP summary", "features": "{features}"},
        ),
        ranking=study_output("shap", "shap.json"),
    log:
        "results/logs/bdt_shap/{dataset}/{features}.log",
    conda:
        CONDA_ENV
    threads: config["studies"]["shap"]["threads"]
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=MODEL_STUDIES.settings("shap"),
        seed=config["seed"],
    script:
        "../scripts/bdt_shap.py"


rule ann_importance:
    """Permutation importance of the ANN inputs."""
    input:
        model=study_model("importance", "model"),
        record=study_model("importance", "record"),
        test=split_file("test"),
        experiments=paths.MLFLOW_READY,
    output:
        plot=report(
            study_output("importance", "importance.png"),
            caption="../report/importance.rst",
            category="Interpretability",
            subcategory="ANN",
            labels={"figure": "permutation importance", "features": "{features}"},
        ),
        table=study_output("importance", "importance.json"),
    log:
        "results/logs/ann_importance/{dataset}/{features}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=MODEL_STUDIES.settings("importance"),
        seed=config["seed"],
    script:
        "../scripts/ann_importance.py"


rule ensemble:
    """An ensemble study (studies.<study>): members trained through the model's trainer
    (a deep ensemble of ANNs differing by seed, a bootstrap ensemble of BDTs), the per-event
    spread of their test predictions checked against the exact posterior."""
    input:
        **{s: split_file(s) for s in SPLITS},
    output:
        plot=report(
            paths.fill(paths.STUDY_FILE, folder="{study}", file="spread.png"),
            caption="../report/ensemble.rst",
            category="Uncertainty",
            subcategory="{study}",
            labels={"figure": "spread and coverage", "features": "{features}"},
        ),
        summary=paths.fill(paths.STUDY_FILE, folder="{study}", file="ensemble.json"),
    log:
        "results/logs/ensemble/{study}/{dataset}/{features}.log",
    wildcard_constraints:
        study="|".join(ENSEMBLE_STUDIES),
    conda:
        CONDA_ENV
    threads: lambda wildcards: config["models"][STUDY_REGISTRY[wildcards.study].model]["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        columns=columns_of,
        model=lambda wildcards: PLAN.hyperparameters(STUDY_REGISTRY[wildcards.study].model),
        ensemble=lambda wildcards: MODEL_STUDIES.settings(wildcards.study),
        spec=lambda wildcards: MODEL_STUDIES.ensemble_spec(wildcards.study),
        kind=dataset_kind,
        limit=has_limit,
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/ensemble.py"


rule z_peak:
    """An unbinned maximum-likelihood fit of the Z peak (Voigt over an exponential, iminuit)
    against the PDG values, with pulls and a goodness of fit from refitted toys."""
    input:
        features=paths.FEATURES,
    output:
        fit=paths.Z_PEAK_FILES["fit"],
        figure=report(
            paths.Z_PEAK_FILES["figure"],
            caption="../report/z_peak.rst",
            category="Z peak",
            subcategory="{dataset}",
            labels={"figure": "fit and pulls", "dataset": "{dataset}"},
        ),
        gof=report(
            paths.Z_PEAK_FILES["gof"],
            caption="../report/z_peak_gof.rst",
            category="Z peak",
            subcategory="{dataset}",
            labels={"figure": "goodness of fit", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/z_peak/{dataset}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        **Z_PEAK.params(),
        seed=config["seed"],
    script:
        "../scripts/z_peak.py"
