"""Rule plot_features: every feature's distribution, signal against background, weighted."""

import pandas as pd

from mlhep import plotting
from mlhep.data.dimuon.features import ALL_FEATURES, FEATURE_LABELS
from mlhep.runlog import script_log

with script_log(snakemake.log[0]):
    frame = pd.read_parquet(snakemake.input[0])
    plotting.feature_distributions(frame, ALL_FEATURES, FEATURE_LABELS, snakemake.output[0])
