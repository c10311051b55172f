"""Each default is written once. A component's defaults are its constructor's (its schema is derived from
the signature); a yaml that picks a litmlp class's schema may not set a value that disagrees with the
constructor. (For another library's class, its yaml is where litmlp's own choice is written: AdamW's lr.)
A command's yaml may not disagree with its schema dataclass."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import MISSING

from litmlp.config import config_dir
from litmlp.config.schema import EvalConfig, ExportConfig, PredictConfig, TrainConfig
from litmlp.config.signature import schema_of

SIGNATURE = "/signature/"
TASK_SCHEMAS = {"train": TrainConfig, "eval": EvalConfig, "predict": PredictConfig, "export": ExportConfig}


def signature_defaults(schema: type) -> dict[str, Any]:
    defaults = {}
    for field in dataclasses.fields(schema):
        if field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            continue
        if value != MISSING:
            defaults[field.name] = value
    return defaults


def disagreements(values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Keys whose yaml value differs from the schema default (interpolations link values, not defaults)."""
    return sorted(
        key
        for key, value in values.items()
        if key in defaults
        and not (isinstance(value, str) and "${" in value)
        and value != defaults[key]
        and not (isinstance(value, list) and list(defaults[key] or []) == value)
    )


def signature_picks() -> list[tuple[Path, str, dict[str, Any]]]:
    """(yaml file, class, the values that file sets on that class's node) for every signature schema."""
    picks = []
    for path in sorted(config_dir().rglob("*.yaml")):
        content = yaml.safe_load(path.read_text()) or {}
        for entry in content.get("defaults", []):
            if not isinstance(entry, str) or not entry.startswith(SIGNATURE):
                continue
            name, _, package = entry.removeprefix(SIGNATURE).partition("@")
            node = {k: v for k, v in content.items() if k != "defaults"} if package == "_here_" else content
            if package != "_here_":
                node = content.get(package) or {}
            picks.append((path, name.replace("/", "."), node))
    return picks


def test_every_component_yaml_picks_a_schema_that_exists():
    picks = signature_picks()
    assert len(picks) >= 15
    for path, dotted, _ in picks:
        assert schema_of(dotted) is not None, f"{path}: no class {dotted}"


OWN = [pick for pick in signature_picks() if pick[1].startswith("litmlp.")]


@pytest.mark.parametrize(("path", "dotted", "values"), OWN, ids=[pick[1] for pick in OWN])
def test_a_litmlp_class_yaml_never_disagrees_with_its_constructor(path, dotted, values):
    found = schema_of(dotted)
    assert found is not None
    assert disagreements(values, signature_defaults(found[0])) == [], path


@pytest.mark.parametrize("command", sorted(TASK_SCHEMAS))
def test_a_command_yaml_never_disagrees_with_its_schema(command):
    content = yaml.safe_load((config_dir() / f"{command}.yaml").read_text())
    values = {k: v for k, v in content.items() if k != "defaults"}
    assert disagreements(values, signature_defaults(TASK_SCHEMAS[command])) == []


def test_the_check_catches_a_restated_default_that_drifted():
    found = schema_of("litmlp.data.SyntheticDataModule")
    assert found is not None
    defaults = signature_defaults(found[0])
    assert defaults["val_fraction"] == 0.15
    assert disagreements({"val_fraction": 0.2, "num_samples": 10_000}, defaults) == ["val_fraction"]
