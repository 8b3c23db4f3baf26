"""Rule training_curves: loss and ROC AUC per epoch (ANN) or boosting round (BDT), training
against validation, one column per feature set."""


from mlhep import io, plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    records = {f"{r['features']} features": r for r in map(io.read_json, snakemake.input)}
    if snakemake.wildcards.model == "bdt":
        xlabel = "Boosting round"
        best = {k: r["best_iteration"] + 1 for k, r in records.items()}
    else:
        xlabel = "Epoch"
        best = {k: r["best_epoch"] for k, r in records.items()}
    plotting.training_history(records, snakemake.output[0], xlabel=xlabel, best=best)
