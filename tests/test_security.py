"""Checkpoints and configs read back from disk never run code: a crafted pickle or a foreign `_target_`
is refused, and each test first shows that its payload is live (it would create the marker file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import run_cli


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("trained")
    result = run_cli(
        "train",
        "trainer=cpu",
        "data.num_samples=600",
        "trainer.max_epochs=1",
        "callbacks.rich_progress_bar=null",
        "hydra.run.dir=run",
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "run" / "checkpoints" / "last.ckpt"


COMMANDS = [
    ("eval", []),
    pytest.param("predict", ["input=in.csv", "output=out.csv"], marks=pytest.mark.slow),
    pytest.param("export", ["format=torchscript"], marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("command", "extra"), COMMANDS)
def test_pickled_code_in_a_checkpoint_never_runs(tmp_path, command, extra):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Payload(marker)}, evil)
    torch.load(evil, weights_only=False)  # proof: an unsafe load runs it
    assert marker.exists()
    marker.unlink()

    result = run_cli(command, f"ckpt_path={evil}", *extra, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot read checkpoint {evil}: not a checkpoint, or it holds pickled objects" in result.stderr
    assert not marker.exists()


def foreign_target_checkpoint(trained: Path, tmp_path: Path, marker: Path) -> Path:
    # An arbitrary file write (Hydra's own blocklist stops os.system, not this).
    checkpoint = torch.load(trained, weights_only=True)
    checkpoint["litmlp_config"]["data"] = {
        "_target_": "shutil.copyfile",
        "_args_": [str(trained), str(marker)],
    }
    path = tmp_path / "foreign.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize(("command", "extra"), COMMANDS)
def test_foreign_target_in_a_checkpoint_config_is_refused(trained, tmp_path, command, extra):
    marker = tmp_path / "pwned"
    path = foreign_target_checkpoint(trained, tmp_path, marker)
    instantiate(OmegaConf.create(torch.load(path, weights_only=True)["litmlp_config"]["data"]))  # proof
    assert marker.exists()
    marker.unlink()

    (tmp_path / "in.csv").write_text("x\n1\n")
    result = run_cli(command, f"ckpt_path={path}", *extra, cwd=tmp_path)
    assert result.returncode == 1
    assert f"{path}: refusing to build 'shutil.copyfile' (at 'data'): not an allowed target" in result.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_resume_refuses_a_foreign_target_in_the_runs_checkpoint(trained, tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    foreign_target_checkpoint(trained, tmp_path, marker).rename(run / "checkpoints" / "last.ckpt")
    result = run_cli("train", f"resume={run}", cwd=tmp_path)
    assert result.returncode == 1
    assert "refusing to build 'shutil.copyfile'" in result.stderr
    assert not marker.exists()
