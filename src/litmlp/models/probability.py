"""A trained net with its input standardisation, returning class probabilities.

This is what `litmlp predict` runs and `litmlp export` writes: raw feature rows in, probabilities out.
"""

from __future__ import annotations

import torch
from torch import nn


class ProbabilityModel(nn.Module):
    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, net: nn.Module, feature_mean: torch.Tensor, feature_std: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("feature_mean", feature_mean.clone().float())
        self.register_buffer("feature_std", feature_std.clone().float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.net((features - self.feature_mean) / self.feature_std)
        return torch.softmax(logits, dim=1)
