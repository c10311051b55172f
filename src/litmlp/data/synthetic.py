"""The default dataset: interleaved spirals in a 2-D plane, embedded in many noisy features.

The classes are separable only along curved boundaries, so a linear model stays far below the MLP.
Generated in memory from a seed: no download, identical on every machine.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch

from litmlp.data.tabular import TabularDataModule
from litmlp.errors import at_least


def make_spirals(
    num_samples: int = 10_000,
    num_features: int = 50,
    num_classes: int = 3,
    turns: float = 0.75,
    jitter: float = 0.06,
    noise: float = 0.5,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced classes, one spiral arm each, projected linearly to `num_features` dims plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_samples) % num_classes
    labels = labels[torch.randperm(num_samples, generator=generator)]
    position = torch.rand(num_samples, generator=generator)
    radius = 0.2 + position
    angle = 2 * math.pi * (turns * position + labels / num_classes)
    plane = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    plane += jitter * torch.randn(num_samples, 2, generator=generator)
    projection = torch.randn(2, num_features, generator=generator)
    features = plane @ projection + noise * torch.randn(num_samples, num_features, generator=generator)
    return features, labels


class SyntheticDataModule(TabularDataModule):
    def __init__(
        self,
        num_samples: int = 10_000,
        num_features: int = 50,
        num_classes: int = 3,
        turns: float = 0.75,
        jitter: float = 0.06,
        noise: float = 0.5,
        seed: int = 0,
        **loading: Any,
    ) -> None:
        """`loading` takes the split and batching arguments of `TabularDataModule`."""
        super().__init__(**loading)
        at_least(1, num_samples=num_samples, num_features=num_features)
        at_least(2, num_classes=num_classes)
        at_least(0, jitter=jitter, noise=noise)
        self.spirals = partial(
            make_spirals,
            num_samples=num_samples,
            num_features=num_features,
            num_classes=num_classes,
            turns=turns,
            jitter=jitter,
            noise=noise,
            seed=seed,
        )

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.spirals()
