"""Rule plot_tree: draw the fitted shallow decision tree."""

import joblib

from mlhep import io, plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    pipeline = joblib.load(snakemake.input.model)
    columns = io.read_json(snakemake.input.record)["columns"]
    plotting.decision_tree(pipeline.named_steps["model"], columns, snakemake.output[0])
