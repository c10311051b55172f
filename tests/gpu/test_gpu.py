"""The default config end to end on one CUDA GPU: 32-bit, bf16 mixed precision, and DDP on one device."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli, run_dirs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize(
    "overrides",
    [
        ("trainer=gpu",),
        ("trainer=gpu", "trainer.precision=bf16-mixed"),
        ("trainer=ddp", "trainer.devices=1"),
    ],
    ids=["32-true", "bf16-mixed", "ddp-1-gpu"],
)
def test_default_config_trains_to_the_cpu_accuracy_on_a_gpu(tmp_path, overrides):
    result = run_cli("train", *overrides, "callbacks.rich_progress_bar=null", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    accuracy, seconds, epochs = metrics["test"]["test/acc"], metrics["wall_time_s"], metrics["epochs_trained"]
    print(f"{' '.join(overrides)}: test acc {accuracy:.4f}, {epochs} epochs in {seconds:.1f} s")
    assert metrics["test"]["test/acc"] > 0.9  # 0.965 on CPU
