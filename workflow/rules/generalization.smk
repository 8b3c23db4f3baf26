from mlhep.studies.generalization import STUDIES as GENERALIZATION_STUDIES

STUDIES_ON = GENERALIZATION.studies()
GPU_STUDIES = [s for s in STUDIES_ON if GENERALIZATION_STUDIES[s].gpu]
CHUNKED_STUDIES = [s for s in STUDIES_ON if GENERALIZATION_STUDIES[s].chunked]


wildcard_constraints:
    study="|".join(STUDIES_ON) or "no-study",
    point="[^/]+",
    chunk="[0-9]+",


rule generalization_chunk:
    """The points of a cheap study that share one job (each its own MLflow run and
    record): their work is far less than a job's start."""
    input:
        unpack(lambda wildcards: GENERALIZATION.inputs(wildcards.study)),
    output:
        paths.STUDY_CHUNK,
    log:
        "results/logs/generalization_chunk/{study}/{chunk}.log",
    wildcard_constraints:
        study="|".join(CHUNKED_STUDIES) or "no-study",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        points=lambda wildcards: GENERALIZATION.chunk_points(wildcards.study, wildcards.chunk),
        settings=lambda wildcards: GENERALIZATION.chunk_settings(wildcards.study, wildcards.chunk),
        seed=config["seed"],
    script:
        "../scripts/generalization_chunk.py"


rule generalization_point_gpu:
    """One grid point of a study that trains a BDT or an MLP (its own MLflow run), on a GPU
    where there is one (a cluster profile gives these jobs a GPU: set-resources)."""
    input:
        unpack(lambda wildcards: GENERALIZATION.inputs(wildcards.study)),
    output:
        paths.STUDY_POINT,
    log:
        "results/logs/generalization_point_gpu/{study}/{point}.log",
    wildcard_constraints:
        study="|".join(GPU_STUDIES) or "no-study",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPU_REQUEST,
    params:
        point=lambda wildcards: GENERALIZATION.point(wildcards.study, wildcards.point),
        settings=lambda wildcards: GENERALIZATION.settings(wildcards.study, wildcards.point),
        device=config["device"],
        seed=config["seed"],
    script:
        "../scripts/generalization_point.py"


rule generalization_summary:
    """A study's points in one table and figure, its point chosen on validation, and its
    MLflow parent run."""
    input:
        points=lambda wildcards: GENERALIZATION.result_files(wildcards.study),
        limit=lambda wildcards: GENERALIZATION.limit(wildcards.study) or [],
        experiments=paths.MLFLOW_READY,
    output:
        summary=paths.GENERALIZATION_FILES["summary"],
        table=paths.GENERALIZATION_FILES["table"],
        figure=report(
            paths.GENERALIZATION_FILES["figure"],
            caption="../report/generalization.rst",
            category="Generalization",
            subcategory="{study}",
            labels={"study": "{study}"},
        ),
    log:
        "results/logs/generalization_summary/{study}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        features=lambda wildcards: GENERALIZATION.features(wildcards.study),
        order=lambda wildcards: list(GENERALIZATION.points(wildcards.study)),
    script:
        "../scripts/generalization_summary.py"


rule generalization_selection:
    """Every study's chosen point with its test score and generalization gap."""
    input:
        [GENERALIZATION.files(s)["summary"] for s in STUDIES_ON],
    output:
        table=paths.SELECTION_CSV,
        markdown=paths.SELECTION_MD,
    log:
        "results/logs/generalization_selection.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/generalization_selection.py"
