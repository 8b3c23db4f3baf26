"""Validation of the config and the input functions shared by the rules."""

import sys
from pathlib import Path

# The library lives in workflow/mlhep: importable here without an installed copy (conda
# environments, cluster nodes); the scripts do the same through scripts/_libpath.py.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from mlhep.config import validate_config  # noqa: E402

# Stops the run before any job starts, naming every offending key.
validate_config(config)

DATASETS = [name for name, ds in config["datasets"].items() if ds["activate"]]
SPLITS = ["train", "validation", "test"]


wildcard_constraints:
    dataset="|".join(DATASETS) or "no-dataset",
    split="|".join(SPLITS),


def enabled(model):
    """Whether a model is switched on in the config."""
    return config["models"][model]["activate"]


def all_outputs():
    """Every final output of the configured analysis (the inputs of rule all)."""
    outputs = ["results/mlflow/experiments.json"]
    for dataset in DATASETS:
        outputs.append(f"results/splits/{dataset}/splits.json")
        if enabled("bayes_optimal"):
            outputs.append(f"results/evaluation/{dataset}/bayes_optimal.json")
    return outputs
