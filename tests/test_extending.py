"""Swapping in a new model or dataset takes one Python file and one yaml file, nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_dirs

NET = """
import torch
from torch import nn


class TwoTower(nn.Module):
    def __init__(self, num_inputs: int, num_outputs: int, width: int = 8) -> None:
        super().__init__()
        self.left = nn.Linear(num_inputs, width)
        self.right = nn.Linear(num_inputs, width)
        self.head = nn.Linear(2 * width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.left(x).relu(), self.right(x).tanh()], dim=1))
"""

DATA = """
import torch
from litmlp.data import TabularDataModule


class XorDataModule(TabularDataModule):
    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(600, 4, generator=generator)
        labels = ((features[:, 0] > 0) ^ (features[:, 1] > 0)).long()
        return features, labels
"""


def run_with_extension(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "my_project.py").write_text(NET + DATA)
    extra = tmp_path / "my_conf"
    (extra / "model" / "net").mkdir(parents=True)
    (extra / "data").mkdir()
    (extra / "model" / "net" / "two_tower.yaml").write_text(
        "_target_: my_project.TwoTower\n_partial_: true\nwidth: 12\n"
    )
    (extra / "data" / "xor.yaml").write_text(
        textwrap.dedent(
            """\
            defaults:
              - /signature/my_project/XorDataModule@_here_
              - _self_
            _target_: my_project.XorDataModule
            batch_size: 32
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "litmlp",
            "train",
            "--config-dir",
            str(extra),
            *overrides,
            "trainer=cpu",
            "trainer.max_epochs=2",
            "callbacks.rich_progress_bar=null",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_new_net_trains_with_sizes_from_the_data(tmp_path):
    result = run_with_extension(tmp_path, "model/net=two_tower")
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = run_dirs(tmp_path)
    assert "TwoTower" in (run / "train.log").read_text()
    assert json.loads((run / "metrics.json").read_text())["test"]["test/acc"] > 0


@pytest.mark.slow
def test_new_dataset_trains_with_the_default_mlp(tmp_path):
    result = run_with_extension(tmp_path, "data=xor")
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 2 * 14  # 420 training rows / batch size 32, two epochs
