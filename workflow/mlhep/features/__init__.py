"""The stage between events and models: the train / validation / test splits
(:mod:`mlhep.features.splits`). Feature engineering itself belongs to each dataset plug-in
(:mod:`mlhep.data`), which knows its physics."""
