"""Validation of the config and the input functions shared by the rules."""

from mlhep.config import validate_config
from mlhep.models import CLASSIFIERS, SKLEARN_MODELS

# Stops the run before any job starts, naming every offending key.
validate_config(config)

DATASETS = [name for name, ds in config["datasets"].items() if ds["activate"]]
SPLITS = ["train", "validation", "test"]
MLFLOW_READY = "results/mlflow/experiments.json"
# GPU-capable rules request one GPU (resource `gpu`: sbatch --gpus=1 under the SLURM
# executor plugin) only when the config switches it on; local runs stay unchanged.
GPU_REQUEST = 1 if config["cluster"]["request_gpu"] else 0


wildcard_constraints:
    dataset="|".join(DATASETS) or "no-dataset",
    split="|".join(SPLITS),
    features="|".join(config["features"]["sets"]),


def enabled(section, name):
    """Whether ``config[section][name]`` is switched on by its ``activate`` key."""
    return config[section][name]["activate"]


def classifiers():
    """The activated trained classifiers (every model but the Bayes limit)."""
    return [m for m in CLASSIFIERS if enabled("models", m)]


def models_on(features):
    """The activated classifiers configured to train on a feature set."""
    return [m for m in classifiers() if features in config["models"][m]["feature_sets"]]


def trained(dataset):
    """(model, feature set) pairs trained on a dataset."""
    return [(m, f) for m in classifiers() for f in config["models"][m]["feature_sets"]]


def predictions_of(dataset, features):
    """Prediction files of every classifier trained on one feature set."""
    return [
        f"results/models/{dataset}/{m}/{features}/predictions.parquet" for m in models_on(features)
    ]


def summary_metrics(wildcards):
    """Metrics files of every (dataset, model, feature set)."""
    return [f"results/evaluation/{d}/{m}/{f}/metrics.json" for d in DATASETS for m, f in trained(d)]


def summary_bayes(wildcards):
    """Bayes-limit files of every dataset, when the stage is on."""
    if not enabled("models", "bayes_optimal"):
        return []
    return [f"results/evaluation/{d}/bayes_optimal.json" for d in DATASETS]


def gd_records(dataset):
    """Training records of the gradient-descent models (MSE and BCE)."""
    return [
        f"results/models/{dataset}/{m}/{f}/train.json"
        for m in ("linear_mse", "linear_bce")
        if enabled("models", m)
        for f in config["models"][m]["feature_sets"]
    ]


def studies(dataset):
    """Outputs of the switched-on studies: the tree drawings, SHAP, importance, ensemble."""
    out = []
    for model, target in (
        ("decision_tree", "tree.png"),
        ("bdt", "shap.json"),
        ("ann", "importance.json"),
    ):
        wanted = model == "decision_tree" or enabled("studies", STUDY_OF[model])
        if enabled("models", model) and wanted:
            for f in config["models"][model]["feature_sets"]:
                out.append(f"results/studies/{dataset}/{model}/{f}/{target}")
    if enabled("studies", "ensemble"):
        f = config["studies"]["ensemble"]["feature_set"]
        out.append(f"results/studies/{dataset}/ensemble/{f}/ensemble.json")
    return out


STUDY_OF = {"bdt": "shap", "ann": "permutation_importance"}


def experiments():
    """Datasets that get an MLflow experiment: the active ones, and Iris for the lecture."""
    return DATASETS + (["iris"] if enabled("lecture", "perceptron_iris") else [])


def training_figures(dataset):
    """Training-curve figures of the switched-on BDT and ANN."""
    return [
        f"results/evaluation/{dataset}/training_{m}.png"
        for m in ("bdt", "ann")
        if enabled("models", m) and config["models"][m]["feature_sets"]
    ]


def report_inputs(wildcards):
    """The results the report shows, by kind (the notebook's ``inputs`` parameter); the
    kinds of switched-off stages are empty."""
    lecture_iris = enabled("lecture", "perceptron_iris")
    lecture_losses = enabled("lecture", "loss_functions")
    found = {d: studies(d) for d in DATASETS}
    study_files = [path for d in DATASETS for path in found[d]]
    inputs = {
        "experiments": [MLFLOW_READY],
        "generation": [f"results/data/{d}/generation.json" for d in DATASETS],
        "splits": [f"results/splits/{d}/splits.json" for d in DATASETS],
        "distributions": [f"results/features/{d}/distributions.png" for d in DATASETS],
        "iris": ["results/lecture/perceptron_iris/result.json"] if lecture_iris else [],
        "iris_plots": (
            [f"results/lecture/perceptron_iris/{p}.png" for p in ("errors", "regions")]
            if lecture_iris
            else []
        ),
        "loss_functions": ["results/lecture/loss_functions.png"] if lecture_losses else [],
        "gd": [
            f"results/evaluation/{d}/gd_mse_vs_bce.png"
            for d in DATASETS
            if lecture_losses and gd_records(d)
        ],
        "summary": ["results/evaluation/summary.csv"] if summary_metrics(None) else [],
        "roc": [
            f"results/evaluation/{d}/roc_{f}.png"
            for d in DATASETS
            for f in sorted({f for _, f in trained(d)})
        ],
        "scores": [
            f"results/evaluation/{d}/{m}/{f}/scores.png" for d in DATASETS for m, f in trained(d)
        ],
        "records": [
            f"results/models/{d}/{m}/{f}/train.json" for d in DATASETS for m, f in trained(d)
        ],
        "training": [path for d in DATASETS for path in training_figures(d)],
        "shap": [p.replace(".json", ".png") for p in study_files if p.endswith("shap.json")],
        "importance": [
            p.replace(".json", ".png") for p in study_files if p.endswith("importance.json")
        ],
        "ensemble": [p for p in study_files if p.endswith("ensemble.json")],
        "ensemble_plot": [
            p.replace("ensemble.json", "spread.png")
            for p in study_files
            if p.endswith("ensemble.json")
        ],
        "tree": [p for p in study_files if p.endswith("tree.png")],
    }
    return inputs


def all_outputs():
    """Every final output of the configured analysis (the inputs of rule all)."""
    outputs = [MLFLOW_READY]
    if enabled("lecture", "perceptron_iris"):
        outputs.append("results/lecture/perceptron_iris/result.json")
    if enabled("lecture", "loss_functions"):
        outputs.append("results/lecture/loss_functions.png")
    for dataset in DATASETS:
        outputs.append(f"results/splits/{dataset}/splits.json")
        outputs.append(f"results/features/{dataset}/distributions.png")
        outputs += training_figures(dataset)
        if enabled("models", "bayes_optimal"):
            outputs.append(f"results/evaluation/{dataset}/bayes_optimal.json")
        features = sorted({f for _, f in trained(dataset)})
        outputs += [f"results/evaluation/{dataset}/roc_{f}.png" for f in features]
        if enabled("lecture", "loss_functions") and gd_records(dataset):
            outputs.append(f"results/evaluation/{dataset}/gd_mse_vs_bce.png")
        outputs += studies(dataset)
    if summary_metrics(None) or summary_bayes(None):
        outputs += ["results/evaluation/summary.csv", "results/evaluation/summary.md"]
    if config["report"]["activate"]:
        outputs.append("results/report/report.html")
    return outputs
