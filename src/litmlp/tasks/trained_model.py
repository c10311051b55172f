"""A checkpoint's model, preprocessing and label names, for prediction and export (no data files needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from litmlp.checkpoint import DATA_KEY, load_checkpoint
from litmlp.data.columns import Column, ColumnEncoder
from litmlp.errors import LitmlpError
from litmlp.models import ProbabilityModel


@dataclass
class TrainedModel:
    model: ProbabilityModel  # in eval mode; takes encoded features
    encoder: ColumnEncoder  # a table's columns to the model's features, as in training
    classes: list[str]
    target: str | None  # the target column the run was trained on, if it read a table

    @property
    def feature_names(self) -> list[str]:
        """The model's inputs: one per numeric column (and missing indicator), one per category."""
        return self.encoder.feature_names

    @property
    def columns(self) -> list[str]:
        """The table columns a prediction reads."""
        return self.encoder.input_names


def _data_state(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    state = checkpoint.get(DATA_KEY)
    if state is None:  # written before the fixed key: Lightning's copy, under the DataModule's class name
        state = next((v for v in checkpoint.values() if isinstance(v, dict) and "feature_mean" in v), None)
    if not isinstance(state, dict) or "feature_mean" not in state or not state.get("classes"):
        raise LitmlpError(f"{path} holds no tabular data state (scaling, features, classes) to predict with")
    return state


def load_trained_model(path: str | Path, cfg: DictConfig) -> TrainedModel:
    """`cfg.model` and `cfg.data`: the run's own config, read from the checkpoint (see `litmlp.runtime`)."""
    from litmlp.tasks.build import build_model

    path = Path(path)
    checkpoint = load_checkpoint(path)
    data = _data_state(checkpoint, path)
    classes = list(data["classes"])
    # A run on numbers only (or from before encodings were stored): each feature is a numeric column.
    encoder = (
        ColumnEncoder.from_state(data["encoder"])
        if data.get("encoder")
        else ColumnEncoder([Column(name) for name in data["feature_names"]])
    )
    module = build_model(
        cfg.model, SimpleNamespace(num_features=len(encoder.feature_names), num_classes=len(classes))
    )
    module.load_state_dict(checkpoint["state_dict"])
    model = ProbabilityModel(module, data["feature_mean"], data["feature_std"]).eval()
    return TrainedModel(model, encoder, classes, OmegaConf.select(cfg, "data.target"))
