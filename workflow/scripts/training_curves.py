"""Rule training_curves: loss (and ROC AUC where recorded) per training step of one model,
training against validation, one column per feature set, the kept step marked."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io, plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    records = {f"{r['features']} features": r for r in map(io.read_json, snakemake.input)}
    step = next(iter(records.values()))["step"] or "step"
    fig = plotting.training_history_figure(records, xlabel=step.capitalize())
    plotting.save_figure(fig, snakemake.output[0])
