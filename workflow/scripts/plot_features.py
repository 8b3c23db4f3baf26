"""Rule plot_features: every feature's distribution, signal against background, weighted."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import plotting
from mlhep.data import get_kind
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    kind = get_kind(snakemake.params.kind)
    frame = pd.read_parquet(snakemake.input[0])
    columns = snakemake.params.columns
    plotting.save_figure(plotting.feature_figure(frame, columns, kind.labels), snakemake.output[0])
