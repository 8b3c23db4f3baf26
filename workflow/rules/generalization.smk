from mlhep.studies.generalization import STUDIES as GENERALIZATION_STUDIES

GENERALIZATION = PLAN.generalization_studies()
GPU_STUDIES = [s for s in GENERALIZATION if GENERALIZATION_STUDIES[s].gpu]
CPU_STUDIES = [s for s in GENERALIZATION if not GENERALIZATION_STUDIES[s].gpu]


wildcard_constraints:
    study="|".join(GENERALIZATION) or "no-study",
    point="[^/]+",


rule generalization_point:
    """One grid point of a generalization study (its own MLflow run)."""
    input:
        unpack(lambda wildcards: PLAN.study_inputs(wildcards.study)),
    output:
        "results/studies/generalization/{study}/points/{point}.json",
    log:
        "results/logs/generalization_point/{study}/{point}.log",
    benchmark:
        "results/benchmarks/generalization_point/{study}/{point}.tsv"
    wildcard_constraints:
        study="|".join(CPU_STUDIES) or "no-study",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        point=lambda wildcards: PLAN.study_point(wildcards.study, wildcards.point),
        settings=lambda wildcards: PLAN.study_settings(wildcards.study, wildcards.point),
        device="cpu",
        seed=config["seed"],
    script:
        "../scripts/generalization_point.py"


# The same rule for the studies that train on a GPU where there is one (BDT, MLP), apart
# only so that a cluster profile can give these jobs a GPU (set-resources).
use rule generalization_point as generalization_point_gpu with:
    log:
        "results/logs/generalization_point_gpu/{study}/{point}.log",
    benchmark:
        "results/benchmarks/generalization_point_gpu/{study}/{point}.tsv"
    wildcard_constraints:
        study="|".join(GPU_STUDIES) or "no-study",
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        point=lambda wildcards: PLAN.study_point(wildcards.study, wildcards.point),
        settings=lambda wildcards: PLAN.study_settings(wildcards.study, wildcards.point),
        device=config["device"],
        seed=config["seed"],


rule generalization_summary:
    """A study's points in one table and figure, its point chosen on validation, and its
    MLflow parent run."""
    input:
        points=lambda wildcards: [
            PLAN.study_point_file(wildcards.study, name)
            for name in PLAN.study_points(wildcards.study)
        ],
        limit=lambda wildcards: PLAN.study_limit(wildcards.study) or [],
        experiments=MLFLOW_READY,
    output:
        summary="results/studies/generalization/{study}/summary.json",
        table="results/studies/generalization/{study}/points.csv",
        figure=report(
            "results/studies/generalization/{study}/{study}.png",
            caption="../report/generalization.rst",
            category="Generalization",
            subcategory="{study}",
            labels={"study": "{study}"},
        ),
    log:
        "results/logs/generalization_summary/{study}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        features=lambda wildcards: config["studies"]["generalization"][wildcards.study].get(
            "features"
        ),
    script:
        "../scripts/generalization_summary.py"


rule generalization_selection:
    """Every study's chosen point with its test score and generalization gap."""
    input:
        [PLAN.generalization_files(s)["summary"] for s in GENERALIZATION],
    output:
        table="results/studies/generalization/selection.csv",
        markdown="results/studies/generalization/selection.md",
    log:
        "results/logs/generalization_selection.log",
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/generalization_selection.py"
