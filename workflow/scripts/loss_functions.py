"""Rule loss_functions: the 0-1 loss and its upper bounds against the margin."""

from mlhep import plotting
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    plotting.losses_vs_margin(snakemake.output[0])
