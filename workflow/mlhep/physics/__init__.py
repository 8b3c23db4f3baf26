"""Physics models of the datasets (exact densities, kinematics, Bayes-optimal limits)."""
