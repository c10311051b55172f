"""Checkpoints and configs read back from disk never run code: a crafted pickle, a target that reaches a
forbidden function through an allowed prefix, or a target hidden in an interpolation is refused, and each
payload is first shown to be live (built without litmlp's check, it creates the marker file)."""

from __future__ import annotations

import ast
import functools
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from litmlp.checkpoint import CONFIG_KEY, with_digest
from litmlp.errors import LitmlpError
from litmlp.runtime.trust import check_stored_config, judge_target
from tests.conftest import REPO, run_cli, train_quickly


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = train_quickly(tmp_path_factory.mktemp("trained"), "data.num_samples=600")
    return run / "checkpoints" / "last.ckpt"


def torch_load_gadget(prefix: str, marker: Path) -> dict[str, Any]:
    """`torch.load(BytesIO(fsencode(<pickle>)), weights_only=False)`, every step spelled under `prefix`."""
    pickled = pickle.dumps(_Payload(marker), protocol=2).decode("utf-8", "surrogateescape")
    fsencode = {"_target_": f"{prefix}.torch.serialization.os.fsencode", "_args_": [pickled]}
    buffer = {"_target_": f"{prefix}.torch.serialization.io.BytesIO", "_args_": [fsencode]}
    return {"_target_": f"{prefix}.torch.load", "_args_": [buffer], "weights_only": False}


def copy_to(marker: Path) -> dict[str, Any]:
    return {"_target_": "shutil.copyfile", "_args_": [__file__, str(marker)]}


def oc_create(node: dict[str, Any]) -> str:
    """The node as an `oc.create` interpolation (flow style; strings and lists of strings only)."""

    def flow(value: Any) -> str:
        return "[" + ", ".join(map(flow, value)) + "]" if isinstance(value, list) else repr(str(value))

    return "${oc.create:{" + ", ".join(f"{key}: {flow(value)}" for key, value in node.items()) + "}}"


# Aliases under each allowed module prefix; each reaches torch.serialization.load.
ALIASES = [
    "litmlp.checkpoint",
    "torch.nn.modules.module",
    "torch.optim.optimizer",
    "lightning.pytorch.trainer.trainer",
    "pytorch_lightning.trainer.trainer",
    "torchmetrics.metric",
]


def _set(config: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    *parents, last = key.split(".")
    node = config
    for parent in parents:
        node = node.setdefault(parent, {})
    node[last] = value
    return config


def _gadget_at_data(prefix: str, config: dict[str, Any], marker: Path) -> dict[str, Any]:
    return _set(config, "data", torch_load_gadget(prefix, marker))


# name -> (edit of the stored config given the marker, expected words in the refusal)
Edit = Callable[[dict[str, Any], Path], dict[str, Any]]
PAYLOADS: dict[str, tuple[Edit, str]] = {
    **{
        f"alias_{prefix}": (
            functools.partial(_gadget_at_data, prefix),
            f"'{prefix}.torch.load' at 'data': it is torch.serialization.load, which loads or runs code",
        )
        for prefix in ALIASES
    },
    "plain_file_write": (
        lambda c, m: _set(c, "data", copy_to(m)),
        "'shutil.copyfile' at 'data': it loads or runs code or touches files; only naming it exactly",
    ),
    "oc_create": (
        lambda c, m: _set(c, "data", oc_create(copy_to(m))),
        "'data' holds an interpolation",
    ),
    "key_reference": (
        lambda c, m: _set(_set(c, "data", "${notes}"), "notes", oc_create(copy_to(m))),
        "'data' holds an interpolation",
    ),
    "nested_list": (
        lambda c, m: _set(c, "data.transforms", [[0, oc_create(copy_to(m))]]),
        "'data.transforms[0][1]' holds an interpolation",
    ),
    "args_of_allowed_target": (
        lambda c, m: _set(c, "data._args_", [torch_load_gadget("torch.nn.modules.module", m)]),
        "at 'data._args_[0]': it is torch.serialization.load",
    ),
    "partial": (
        lambda c, m: _set(
            c, "model.optimizer", {**torch_load_gadget("litmlp.tasks.train", m), "_partial_": True}
        ),
        "'litmlp.tasks.train.torch.load' at 'model.optimizer': it is torch.serialization.load",
    ),
    "in_callbacks": (
        lambda c, m: _set(
            c, "callbacks.model_checkpoint.dirpath", torch_load_gadget("litmlp.tasks.train", m)
        ),
        "at 'callbacks.model_checkpoint.dirpath': it is torch.serialization.load",
    ),
    "in_loggers": (
        lambda c, m: _set(c, "logger.tensorboard.name", torch_load_gadget("litmlp.tasks.train", m)),
        "at 'logger.tensorboard.name': it is torch.serialization.load",
    ),
    "in_trainer": (
        lambda c, m: _set(c, "trainer.profiler", torch_load_gadget("litmlp.tasks.train", m)),
        "at 'trainer.profiler': it is torch.serialization.load",
    ),
    "stored_trusted_targets": (
        lambda c, m: _set(_set(c, "trusted_targets", ["shutil.copyfile", "torch."]), "data", copy_to(m)),
        "'shutil.copyfile' at 'data'",
    ),
}
LIVE_BY_HYDRA = {name for name in PAYLOADS if not name.startswith("stored_trusted")}


def crafted(trained: Path, tmp_path: Path, payload: str) -> tuple[Path, Path]:
    """A copy of a real checkpoint whose stored config carries the payload; (checkpoint, marker)."""
    marker = tmp_path / f"pwned_{payload}"
    checkpoint = torch.load(trained, weights_only=True)
    edit, _ = PAYLOADS[payload]
    checkpoint[CONFIG_KEY] = edit(checkpoint[CONFIG_KEY], marker)
    path = tmp_path / "crafted.ckpt"
    # The digest is integrity, not authenticity: an attacker writes a matching one, and trust still refuses.
    torch.save(with_digest(checkpoint), path)
    return path, marker


def build_without_litmlp(config: dict[str, Any]) -> None:
    """What a loader without the check would do: build each top-level node (resolving interpolations on
    the way), then each node with a target on its own, calling what comes back as a partial."""
    cfg = OmegaConf.create(config)
    nodes = [cfg[key] for key in cfg]
    nodes += [OmegaConf.select(cfg, path) for path in _target_paths(config, "")]
    for node in nodes:
        try:
            built = instantiate(node)
            if isinstance(built, functools.partial):
                built()
        except Exception:
            pass  # the payload ran or not; the marker says which


def _target_paths(node: Any, path: str) -> list[str]:
    if not isinstance(node, dict):
        return []
    found = [path] if "_target_" in node and path else []
    for key, value in node.items():
        found += _target_paths(value, f"{path}.{key}" if path else str(key))
    return found


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_stored_config_payload_is_live_and_refused(trained, tmp_path, payload):
    path, marker = crafted(trained, tmp_path, payload)
    stored = torch.load(path, weights_only=True)[CONFIG_KEY]
    if payload in LIVE_BY_HYDRA:
        build_without_litmlp(stored)
        assert marker.exists(), "the payload is not live"
        marker.unlink()
    _, expected = PAYLOADS[payload]
    with pytest.raises(LitmlpError) as refused:
        check_stored_config(stored, str(path), trusted=[])
    assert expected in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("spelled", "resolved"),
    [
        ("litmlp.cli.os.system", "os.system"),
        ("torch.nn.modules.module.torch.load", "torch.serialization.load"),
        ("torch.serialization.io.BytesIO", "_io.BytesIO"),
        ("torch.nn.modules.module.torch.serialization.os.fsencode", "os._fscodec.<locals>.fsencode"),
        ("litmlp.checkpoint.pickle.loads", "_pickle.loads"),
        (
            "litmlp.checkpoint.torch.nn.modules.module.Module.load_state_dict",
            "torch.nn.modules.module.Module.load_state_dict",
        ),
        ("lightning.pytorch.core.module.LightningModule.load_from_checkpoint", None),
    ],
)
def test_alias_is_judged_by_the_object_it_names(spelled, resolved):
    target = judge_target(spelled, "data")
    assert target.refusal is not None
    if resolved is not None:
        assert target.resolved == resolved


@pytest.mark.parametrize(
    "spelled",
    [
        "litmlp.modules.Classifier",
        "torch.optim.AdamW",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        "torch.nn.Linear",
        "lightning.pytorch.Trainer",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "lightning.pytorch.loggers.TensorBoardLogger",
        "torchmetrics.classification.MulticlassAccuracy",
    ],
)
def test_classes_litmlp_configs_use_are_allowed(spelled):
    assert judge_target(spelled, "x").refusal is None


def test_trusted_targets_opens_a_prefix_but_never_a_loader():
    assert judge_target("torch.utils.data.TensorDataset", "x").refusal is not None
    assert judge_target("torch.utils.data.TensorDataset", "x", ["torch.utils."]).refusal is None
    assert judge_target("torch.load", "x", ["torch."]).refusal is not None
    assert judge_target("litmlp.cli.os.system", "x", ["litmlp.", "os."]).refusal is not None
    assert judge_target("torch.load", "x", ["torch.load"]).refusal is None  # named exactly, on purpose


def test_an_unknown_package_is_not_imported_to_judge_it():
    target = judge_target("surely_not_installed_pkg.run", "data")
    assert target.refusal == "not an allowed target"
    assert target.resolved is None


def test_hydra_blocklist_override_is_dropped_when_a_stored_config_is_accepted(trained, monkeypatch):
    monkeypatch.setenv("HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE", "os.remove")
    check_stored_config(torch.load(trained, weights_only=True)[CONFIG_KEY], str(trained))
    assert "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE" not in os.environ


def test_every_torch_load_in_the_package_is_weights_only():
    sources = sorted((REPO / "src").rglob("*.py"))
    loads = [line for path in sources for line in path.read_text().splitlines() if "load" in line]
    assert not [line for line in loads if "weights_only=False" in line]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load":
                owner = getattr(node.func, "value", None)
                if isinstance(owner, ast.Name) and owner.id == "torch":
                    flags = {k.arg: k.value for k in node.keywords}
                    assert isinstance(flags.get("weights_only"), ast.Constant), path
                    assert flags["weights_only"].value is True, path


def test_pickled_code_in_a_checkpoint_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Payload(marker)}, evil)
    torch.load(evil, weights_only=False)  # proof: an unsafe load runs it
    assert marker.exists()
    marker.unlink()

    result = run_cli("eval", f"ckpt_path={evil}", cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot read checkpoint {evil}: not a checkpoint, or it holds pickled objects" in result.stderr
    assert not marker.exists()


def _prepare(command: str, path: Path, tmp_path: Path) -> list[str]:
    """The command line that reads `path`; resume reads it as a run's last.ckpt."""
    (tmp_path / "in.csv").write_text("x\n1\n")
    if command == "resume":
        run = tmp_path / "run"
        (run / "checkpoints").mkdir(parents=True)
        path.rename(run / "checkpoints" / "last.ckpt")
        return ["train", f"resume={run}"]
    extra = {
        "eval": [],
        "predict": ["input=in.csv", "output=out.csv"],
        "export": ["format=torchscript"],
        "train": ["trainer.max_epochs=1", "data.num_samples=300"],
        "serve": [],
    }[command]
    return [command, f"ckpt_path={path}", *extra]


COMMANDS = ["eval", "predict", "export", "resume", "train", "serve"]
# The default suite: one command against one bypass; the slow suite: every pair.
QUICK = {("eval", "alias_torch.nn.modules.module")}
CLI_CASES = [
    pytest.param(command, payload, marks=() if (command, payload) in QUICK else pytest.mark.slow)
    for payload in sorted(PAYLOADS)
    for command in COMMANDS
]


@pytest.mark.parametrize(("command", "payload"), CLI_CASES)
def test_every_command_refuses_a_crafted_stored_config(trained, tmp_path, command, payload):
    path, marker = crafted(trained, tmp_path, payload)
    result = run_cli(*_prepare(command, path, tmp_path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert "refusing" in lines[0]
    assert PAYLOADS[payload][1] in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not marker.exists()
    assert not (tmp_path / "out.csv").exists()


def test_inspect_lists_every_target_without_building_any(trained, tmp_path):
    path, marker = crafted(trained, tmp_path, "alias_torch.nn.modules.module")
    result = run_cli("inspect", f"ckpt_path={path}", cwd=tmp_path)
    assert result.returncode == 1
    rows = {
        line.split()[0]: line.split(maxsplit=1)[1] for line in result.stdout.splitlines() if " -> " in line
    }
    assert rows["data"].startswith("torch.nn.modules.module.torch.load -> torch.serialization.load  REFUSED")
    assert rows["model.optimizer"] == "torch.optim.AdamW -> torch.optim.adamw.AdamW  allowed"
    assert rows["data._args_[0]"].startswith(
        "torch.nn.modules.module.torch.serialization.io.BytesIO -> _io.BytesIO"
    )
    assert not marker.exists()


@pytest.mark.slow
def test_inspect_passes_a_checkpoint_litmlp_wrote(trained, tmp_path):
    clean = run_cli("inspect", f"ckpt_path={trained}", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert "lr: 0.003" in clean.stdout
    assert "REFUSED" not in clean.stdout
