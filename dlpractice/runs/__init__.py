"""Runs: run folders, metrics files, checkpoints, task kinds, evaluation and the Predictor of a finished run."""
