"""The model's layers when fitting starts: what holds parameters, without the metric objects."""

from __future__ import annotations

import logging

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelSummary
from torchmetrics import Metric, MetricCollection

from litmlp.errors import at_least

log = logging.getLogger(__name__)


def holds_only_metrics(module: torch.nn.Module) -> bool:
    """A torchmetrics object, or a container of them with no parameter of its own (a module's metrics)."""
    if isinstance(module, (Metric, MetricCollection)):
        return True
    children = list(module.children())
    has_parameters = any(True for _ in module.parameters())
    return bool(children) and not has_parameters and all(holds_only_metrics(child) for child in children)


def summary_rows(module: pl.LightningModule, max_depth: int) -> list[tuple[str, str, int]]:
    """(name, type, parameters) of the submodules down to `max_depth`, metrics left out."""
    rows = []
    for name, child in module.named_modules():
        if not name or name.count(".") >= max_depth:
            continue
        if any(holds_only_metrics(part) for part in _path(module, name)):
            continue
        rows.append((name, type(child).__name__, sum(p.numel() for p in child.parameters())))
    return rows


def _path(module: torch.nn.Module, name: str) -> list[torch.nn.Module]:
    """The modules from `module`'s child down to the one named `name`."""
    parts, found = name.split("."), []
    for part in parts:
        module = getattr(module, part)
        found.append(module)
    return found


class NetSummary(ModelSummary):
    """Lightning's model summary without the rows no user reads: the metric objects of a module (no
    parameters, no layers) and a FLOPs column that is 0 unless measured. Written to the log (console and
    `train.log`) once, when fitting starts."""

    def __init__(self, max_depth: int = 2) -> None:
        at_least(0, max_depth=max_depth)
        super().__init__(max_depth=max_depth)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        rows = summary_rows(pl_module, self._max_depth)
        total = sum(p.numel() for p in pl_module.parameters())
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        width = max([len(name) for name, _, _ in rows] + [4])
        type_width = max([len(kind) for _, kind, _ in rows] + [4])
        lines = [f"{'Name':<{width}}  {'Type':<{type_width}}  {'Params':>10}"]
        lines += [f"{name:<{width}}  {kind:<{type_width}}  {count:>10,}" for name, kind, count in rows]
        lines.append(f"{total:,} parameters ({trainable:,} trainable, {4 * total / 1e6:.3f} MB as float32)")
        log.info("Model %s:\n%s", type(pl_module).__name__, "\n".join(lines))
