"""Every result path of the analysis, written once.

Each constant is a template with Snakemake's wildcard names (``{dataset}``, ``{model}``,
``{features}``, ...). The rules use them as they are in ``input:`` and ``output:``; the
stages fill them in with :func:`fill` to name a job's files and the report's manifest. A
renamed output is one edit here, and a test checks that no ``results/`` template is written
anywhere else (logs stay beside their rule, each written once).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

#: The one folder the workflow writes.
RESULTS = "results"
#: Small static inputs that ship with the repository (the package is installed editable
#: from its checkout: ``workflow/mlhep`` lies two folders below the repository's root).
RESOURCES = Path(__file__).resolve().parents[2] / "resources"

# --- tracking -------------------------------------------------------------------------------
#: The MLflow store and its experiments, created once before any job logs.
MLFLOW_READY = f"{RESULTS}/mlflow/experiments.json"

# --- data -----------------------------------------------------------------------------------
EVENTS = f"{RESULTS}/data/{{dataset}}/events.root"
GENERATION = f"{RESULTS}/data/{{dataset}}/generation.json"
FEATURES = f"{RESULTS}/features/{{dataset}}/features.parquet"
DISTRIBUTIONS = f"{RESULTS}/features/{{dataset}}/distributions.png"
SPLIT = f"{RESULTS}/splits/{{dataset}}/{{split}}.parquet"
SPLITS_RECORD = f"{RESULTS}/splits/{{dataset}}/splits.json"

# --- training -------------------------------------------------------------------------------
MODEL_DIR = f"{RESULTS}/models/{{dataset}}/{{model}}/{{features}}"
#: What a training job writes, by output name.
MODEL_FILES = {
    "model": f"{MODEL_DIR}/model",
    "predictions": f"{MODEL_DIR}/predictions.parquet",
    "record": f"{MODEL_DIR}/train.json",
}
MODEL, PREDICTIONS, RECORD = MODEL_FILES.values()

# --- classification evaluation ----------------------------------------------------------------
EVALUATION = f"{RESULTS}/evaluation/{{dataset}}"
LIMIT = f"{EVALUATION}/bayes_optimal.json"
#: What the evaluation of one classifier writes, by output name.
EVALUATION_FILES = {
    "metrics": f"{EVALUATION}/{{model}}/{{features}}/metrics.json",
    "roc": f"{EVALUATION}/{{model}}/{{features}}/roc.png",
    "scores": f"{EVALUATION}/{{model}}/{{features}}/scores.png",
}
METRICS, ROC, SCORES = EVALUATION_FILES.values()
ROC_COMPARISON = f"{EVALUATION}/roc_{{features}}.png"
CALIBRATION_PLOT = f"{EVALUATION}/calibration_{{features}}.png"
CALIBRATION_TABLE = f"{EVALUATION}/calibration_{{features}}.json"
TRAINING_CURVES = f"{EVALUATION}/training_{{model}}.png"
GD_COMPARISON = f"{EVALUATION}/gd_mse_vs_bce.png"
SUMMARY_CSV = f"{RESULTS}/evaluation/summary.csv"
SUMMARY_MD = f"{RESULTS}/evaluation/summary.md"

# --- regression (pulse) evaluation ------------------------------------------------------------
REGRESSION = f"{EVALUATION}/regression"
#: What the regression evaluation writes, by output name.
REGRESSION_FILES = {
    "summary": f"{REGRESSION}/summary.json",
    "table": f"{REGRESSION}/resolution.csv",
    "resolution": f"{REGRESSION}/resolution.png",
    "phase": f"{REGRESSION}/phase.png",
    "pulls": f"{REGRESSION}/pulls.png",
    "coverage": f"{REGRESSION}/coverage.png",
    "phase_bias": f"{REGRESSION}/phase_bias.png",
    "phase_bias_table": f"{REGRESSION}/phase_bias.csv",
    "pileup_threshold": f"{REGRESSION}/pileup_threshold.png",
    "pulses": f"{REGRESSION}/pulses.png",
    "training": f"{REGRESSION}/training.png",
}

# --- model studies ----------------------------------------------------------------------------
#: One folder per model study and feature set (``{folder}``: the study's model or name).
STUDY_DIR = f"{RESULTS}/studies/{{dataset}}/{{folder}}/{{features}}"
STUDY_FILE = f"{STUDY_DIR}/{{file}}"

# --- generalization studies -------------------------------------------------------------------
GENERALIZATION = f"{RESULTS}/studies/generalization"
STUDY_POINT = f"{GENERALIZATION}/{{study}}/points/{{point}}.json"
#: The points of a cheap study that one job runs together (each point's record in it).
STUDY_CHUNK = f"{GENERALIZATION}/{{study}}/chunks/{{chunk}}.json"
#: What a generalization study's summary job writes, by output name.
GENERALIZATION_FILES = {
    "summary": f"{GENERALIZATION}/{{study}}/summary.json",
    "table": f"{GENERALIZATION}/{{study}}/points.csv",
    "figure": f"{GENERALIZATION}/{{study}}/{{study}}.png",
}
SELECTION_CSV = f"{GENERALIZATION}/selection.csv"
SELECTION_MD = f"{GENERALIZATION}/selection.md"

# --- the Z peak -------------------------------------------------------------------------------
Z_PEAK_FILES = {
    "fit": f"{RESULTS}/studies/{{dataset}}/z_peak/fit.json",
    "figure": f"{RESULTS}/studies/{{dataset}}/z_peak/fit.png",
    "gof": f"{RESULTS}/studies/{{dataset}}/z_peak/gof.png",
}

# --- the generative stage ---------------------------------------------------------------------
GENERATIVE = f"{RESULTS}/generative"
#: What the stage writes for one generator, by output name.
GENERATOR_FILES = {
    "generator": f"{GENERATIVE}/{{generator}}/generator.pt",
    "record": f"{GENERATIVE}/{{generator}}/train.json",
    "history": f"{GENERATIVE}/{{generator}}/history.png",
    "fidelity": f"{GENERATIVE}/{{generator}}/fidelity.json",
    "sample": f"{GENERATIVE}/{{generator}}/sample.parquet",
    "features": f"{GENERATIVE}/{{generator}}/features.png",
    "roc": f"{GENERATIVE}/{{generator}}/roc.png",
}
#: A generator's ablation (generative.ablation): every candidate's row, the settings kept.
GENERATOR_ABLATION = f"{GENERATIVE}/{{generator}}/ablation.json"
FLOOR = f"{GENERATIVE}/floor.json"
FIDELITY_TABLE = f"{GENERATIVE}/fidelity.csv"
GENERATIVE_MASS = f"{GENERATIVE}/mass.png"
GENERATIVE_ROC = f"{GENERATIVE}/roc.png"

# --- hyper-parameter searches -----------------------------------------------------------------
#: One search: a model on a feature set of a dataset (``{model}``: a tunable model).
TUNING = f"{RESULTS}/tuning/{{dataset}}/{{model}}/{{features}}"
#: The study's record (name, storage, MLflow parent run); its journal storage lies beside
#: it (``study.journal``), written by every worker and not the output of any one job.
TUNING_STUDY = f"{TUNING}/study.json"
TUNING_JOURNAL = f"{TUNING}/study.journal"
TUNING_WORKER = f"{TUNING}/workers/{{worker}}.json"
#: The best trial retrained on the train split (as a training job writes it).
TUNED_FILES = {
    "model": f"{TUNING}/tuned/model",
    "predictions": f"{TUNING}/tuned/predictions.parquet",
    "record": f"{TUNING}/tuned/train.json",
}
#: ... and its evaluation (as an evaluation job writes it).
TUNED_EVALUATION = {
    "metrics": f"{TUNING}/tuned/metrics.json",
    "roc": f"{TUNING}/tuned/roc.png",
    "scores": f"{TUNING}/tuned/scores.png",
}
#: What a search's summary job writes, by output name.
TUNING_FILES = {
    "summary": f"{TUNING}/summary.json",
    "trials": f"{TUNING}/trials.csv",
    "progress": f"{TUNING}/progress.png",
    "history": f"{TUNING}/history.png",
    "importances": f"{TUNING}/importances.png",
    "parallel": f"{TUNING}/parallel.png",
}
TUNING_CSV = f"{RESULTS}/tuning/tuning.csv"
TUNING_MD = f"{RESULTS}/tuning/tuning.md"

# --- lecture and report -----------------------------------------------------------------------
IRIS_FILES = {
    "result": f"{RESULTS}/lecture/perceptron_iris/result.json",
    "errors": f"{RESULTS}/lecture/perceptron_iris/errors.png",
    "regions": f"{RESULTS}/lecture/perceptron_iris/regions.png",
}
LOSS_FUNCTIONS = f"{RESULTS}/lecture/loss_functions.png"
REPORT_HTML = f"{RESULTS}/report/report.html"
REPORT_NOTEBOOK = f"{RESULTS}/report/report.ipynb"


def fill(template: str, **values: Any) -> str:
    """``template`` with the named wildcards replaced and every other wildcard left as it
    is: ``fill(SPLIT, split="train")`` is a rule's ``results/splits/{dataset}/train.parquet``,
    ``fill(SPLIT, dataset="d", split="train")`` a job's file."""
    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is not None:
            out.append(str(values[field]) if field in values else f"{{{field}}}")
    return "".join(out)


def fill_all(templates: dict[str, str], **values: Any) -> dict[str, str]:
    """:func:`fill` applied to every template of a mapping (a rule's named outputs)."""
    return {name: fill(template, **values) for name, template in templates.items()}
