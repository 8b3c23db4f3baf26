"""Rule loss_functions: the 0-1 loss and its upper bounds against the margin."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

from mlhep import plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    fig, ax = plotting.new_figure()
    plotting.draw_losses_vs_margin(ax)
    plotting.save_figure(fig, snakemake.output[0])
