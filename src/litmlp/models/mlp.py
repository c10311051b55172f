"""The multilayer perceptron of "PyTorch in one hour", with configurable hidden sizes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from litmlp.errors import BadValueError, at_least


class MLP(nn.Module):
    """Linear -> ReLU -> ... -> Linear, returning logits.

    Layers are created in the tutorial's order, so for the same `torch.manual_seed` the default
    50 -> (30, 20) -> 3 network starts from exactly the tutorial's parameters. `hidden=()` is a
    linear model.
    """

    def __init__(self, num_inputs: int, num_outputs: int, hidden: Sequence[int] = (30, 20)) -> None:
        super().__init__()
        at_least(1, num_inputs=num_inputs, num_outputs=num_outputs)
        if any(size < 1 for size in hidden):
            raise BadValueError("hidden", list(hidden), "every layer size must be at least 1")
        layers: list[nn.Module] = []
        width = num_inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
