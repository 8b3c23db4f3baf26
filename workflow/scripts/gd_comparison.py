"""Rule gd_comparison: the same linear model trained by gradient descent on the MSE and on
the BCE, loss per epoch on every feature set."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io, plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    panels = {}
    for path in snakemake.input:
        record = io.read_json(path)
        loss = record["model"].removeprefix("linear_").upper()
        curves = record["curves"]
        panels.setdefault(f"Gradient descent on the {loss}", {})[record["features"]] = {
            "train": curves["train_loss"],
            "validation": curves.get("validation_loss", []),
        }
    fig = plotting.training_curves_figure(panels, ylabel="Loss per event")
    plotting.save_figure(fig, snakemake.output[0])
