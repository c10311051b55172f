"""litmlp: a PyTorch Lightning + Hydra template around a small MLP classifier."""

__version__ = "0.1.0"
