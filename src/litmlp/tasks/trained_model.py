"""A checkpoint's net, preprocessing and label names, for prediction and export (no data files needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from litmlp.checkpoint import load_run_checkpoint
from litmlp.errors import LitmlpError
from litmlp.models import ProbabilityModel


@dataclass
class TrainedModel:
    model: ProbabilityModel  # in eval mode
    feature_names: list[str]
    classes: list[str]
    target: str | None  # the target column the run was trained on, if it read a table


def _data_state(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    # Lightning stores the DataModule's state under its class name.
    for value in checkpoint.values():
        if isinstance(value, dict) and "feature_mean" in value and value.get("classes"):
            return value
    raise LitmlpError(f"{path} holds no data preprocessing state: was it written by litmlp train?")


def load_trained_model(path: str | Path, trusted_targets: list[str]) -> TrainedModel:
    path = Path(path)
    checkpoint, config = load_run_checkpoint(path, trusted_targets)
    data = _data_state(checkpoint, path)
    feature_names, classes = list(data["feature_names"]), list(data["classes"])
    net = instantiate(config.model.net, _convert_="all")(
        num_inputs=len(feature_names), num_outputs=len(classes)
    )
    weights = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(weights)
    model = ProbabilityModel(net, data["feature_mean"], data["feature_std"]).eval()
    target = OmegaConf.select(config, "data.target")
    return TrainedModel(model, feature_names, classes, target)
