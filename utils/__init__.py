"""Data, priors, evaluation, plotting and the training loop shared by the three schemes."""
