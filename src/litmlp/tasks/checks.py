"""Config values that would fail late, or not at all, checked before anything is built or written.

Lightning's Trainer and callbacks accept a negative `gradient_clip_val` or `patience` without a word; an
optimizer or scheduler in `_partial_` form is only called once fitting starts, after the loggers made
their directories. Here every node whose `_target_` is (a subclass of) a class below has those arguments
checked, and every `_partial_` optimizer or scheduler is called once with a stand-in, so a bad value is one
line naming its key (`trainer.gradient_clip_val=-1: must be at least 0`), exit code 2, nothing written.
Our own classes check their arguments in their constructors (`litmlp.errors.at_least`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from hydra._internal.utils import _locate
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from litmlp.errors import BadValueError, UsageError, at_least
from litmlp.tasks.build import without_call_arguments

# class (by module path, matched along each target's base classes) -> argument -> smallest sensible value
AT_LEAST: dict[str, dict[str, float]] = {
    "lightning.pytorch.trainer.trainer.Trainer": {
        "max_epochs": -1,
        "min_epochs": 0,
        "max_steps": -1,
        "min_steps": 0,
        "gradient_clip_val": 0,
        "accumulate_grad_batches": 1,
        "log_every_n_steps": 0,
        "check_val_every_n_epoch": 1,
        "num_sanity_val_steps": -1,
    },
    "lightning.pytorch.callbacks.early_stopping.EarlyStopping": {"patience": 0, "min_delta": 0},
    "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint": {
        "save_top_k": -1,
        "every_n_epochs": 0,
        "every_n_train_steps": 0,
    },
    "torch.optim.optimizer.Optimizer": {"lr": 0, "weight_decay": 0, "momentum": 0, "eps": 0},
    "torch.optim.lr_scheduler.LRScheduler": {"T_max": 1, "step_size": 1, "eta_min": 0, "T_0": 1},
    "torch.optim.lr_scheduler.ReduceLROnPlateau": {"patience": 0, "cooldown": 0, "min_lr": 0},
}
BETWEEN_0_AND_1 = {  # open interval
    "torch.optim.lr_scheduler.ReduceLROnPlateau": ("factor",),
}


def _nodes(node: Any, key: str) -> Iterator[tuple[str, DictConfig]]:
    """Every node with a `_target_`, with its key from the config's root."""
    if isinstance(node, DictConfig) and not node._is_none():
        if "_target_" in node:
            yield key, node
        for name in map(str, node):
            yield from _nodes(node._get_node(name), f"{key}.{name}" if key else name)
    elif isinstance(node, ListConfig) and not node._is_none():
        for index in range(len(node)):
            yield from _nodes(node._get_node(index), f"{key}[{index}]")


def _rules(target: type) -> tuple[dict[str, float], tuple[str, ...]]:
    at_least: dict[str, float] = {}
    between: tuple[str, ...] = ()
    for cls in reversed(target.__mro__):
        name = f"{cls.__module__}.{cls.__qualname__}"
        at_least.update(AT_LEAST.get(name, {}))
        between += BETWEEN_0_AND_1.get(name, ())
    return at_least, between


def _class(node: DictConfig) -> type | None:
    try:
        target = _locate(str(node._get_node("_target_")._value()))  # type: ignore[union-attr]
    except Exception:  # an unknown target is reported when it is built, with Hydra's message
        return None
    return target if isinstance(target, type) else None


def check_values(cfg: DictConfig, sections: tuple[str, ...]) -> None:
    """Check the nodes under `sections` (call within `build.data_sizes` when values read the data)."""
    for section in sections:
        if cfg.get(section) is None:
            continue
        for key, node in _nodes(cfg._get_node(section), section):
            target = _class(node)
            if target is None:
                continue
            minimums, between = _rules(target)
            for name, minimum in minimums.items():
                value = node.get(name) if name in node else None
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    at_least(minimum, **{f"{key}.{name}": value})  # the message litmlp's own classes give
            for name in between:
                value = node.get(name) if name in node else None
                if isinstance(value, (int, float)) and not 0 < value < 1:
                    raise BadValueError(f"{key}.{name}", value, "must be above 0 and below 1")
            if node.get("_partial_"):
                _call_with_stand_in(key, node, target)


def _call_with_stand_in(key: str, node: DictConfig, target: type) -> None:
    """A `_partial_` optimizer or scheduler, called as fitting will call it: every other value checked."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    if issubclass(target, torch.optim.Optimizer):
        argument: Any = [parameter]
    elif issubclass(
        target, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    ):
        argument = torch.optim.SGD([parameter], lr=0.1)
    else:
        return
    spec = without_call_arguments(OmegaConf.to_container(node, resolve=True))
    try:
        instantiate(spec)(argument)
    except (ValueError, TypeError, RuntimeError, AssertionError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{key}: {target.__name__} refuses these values: {reason}") from None
