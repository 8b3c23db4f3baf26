"""Rule plot_tree: draw the fitted shallow decision tree."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import io, plotting
from mlhep.models import get_trainer
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    record = io.read_json(snakemake.input.record)
    pipeline = get_trainer(record["model"]).load_fitted(snakemake.input.model, record).model
    fig, ax = plotting.new_figure(figsize=(18, 8))
    plotting.draw_decision_tree(ax, pipeline.named_steps["model"], record["columns"])
    plotting.save_figure(fig, snakemake.output[0])
