"""Analyses on top of the fits: checkpoint noise (variance), error as the ladder grows, the paper."""
