"""Rule plot_tree: draw the fitted shallow decision tree."""

from pathlib import Path

import joblib

from mlhep import io, plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    record = io.read_json(snakemake.input.record)
    pipeline = joblib.load(Path(snakemake.input.model) / record["model_file"])
    plotting.decision_tree(pipeline.named_steps["model"], record["columns"], snakemake.output[0])
