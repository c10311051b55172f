"""Sweeps: summaries of multirun directories."""
