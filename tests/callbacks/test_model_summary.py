from __future__ import annotations

import lightning.pytorch as pl
import torch
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from litmlp.callbacks.model_summary import summary_rows


class Metrics(torch.nn.Module):
    """A module's metrics kept in a plain container, as many LightningModules do."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = MeanMetric()
        self.scores = MetricCollection({"acc": MulticlassAccuracy(3)})


class Module(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 3)
        self.train_metrics = Metrics()
        self.best = MeanMetric()


def test_the_summary_lists_layers_and_their_parameters_not_metric_objects():
    assert summary_rows(Module(), max_depth=2) == [
        ("encoder", "Sequential", 40),
        ("encoder.0", "Linear", 40),
        ("encoder.1", "ReLU", 0),
        ("head", "Linear", 27),
    ]
    assert summary_rows(Module(), max_depth=1) == [("encoder", "Sequential", 40), ("head", "Linear", 27)]
