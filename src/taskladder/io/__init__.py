"""Readers and writers: ladder specs, W&B-style run exports, tidy tables."""
