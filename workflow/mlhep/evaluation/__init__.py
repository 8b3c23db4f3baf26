"""What every classifier is measured by (:mod:`.classification`, :mod:`.metrics`) and the
exact limit of a dataset's feature set on the same events (:mod:`.limit`)."""
