"""Plain `nn.Module` networks. Nothing here knows about Lightning or Hydra."""

from litmlp.models.mlp import MLP

__all__ = ["MLP"]
