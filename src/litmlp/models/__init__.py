"""Plain `nn.Module` networks. Nothing here knows about Lightning or Hydra."""

from litmlp.models.mlp import MLP
from litmlp.models.probability import ProbabilityModel

__all__ = ["MLP", "ProbabilityModel"]
