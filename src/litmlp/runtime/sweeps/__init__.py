"""Sweeps: summaries of multirun directories, and what an Optuna search adds to each trial."""
