"""Rule training_curves: loss (and ROC AUC where recorded) per training step of one model,
training against validation, one column per feature set, the kept step marked."""

from mlhep import io, plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    records = {f"{r['features']} features": r for r in map(io.read_json, snakemake.input)}
    step = next(iter(records.values()))["step"] or "step"
    plotting.training_history(records, snakemake.output[0], xlabel=step.capitalize())
