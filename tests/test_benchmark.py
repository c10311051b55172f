"""The benchmark runs end to end on a tiny size. No timing is asserted: speed is the benchmark's job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_runs_every_variant_and_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "benchmark.py"),
            "--num-samples",
            "600",
            "--batch-sizes",
            "64",
            "--epochs",
            "3",
            "--warmup",
            "1",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    row = results["batch_sizes"]["64"]
    assert set(row["samples_per_s"]) == {"tutorial", "batched", "lht", "litmlp"}
    assert all(speed > 0 for speed in row["samples_per_s"].values())
    assert row["d/b"] == row["samples_per_s"]["litmlp"] / row["samples_per_s"]["batched"]
    assert results["end_to_end"]["epochs"] >= 1
    assert "d/b" in result.stdout
    assert "litmlp --help" in result.stdout


@pytest.mark.slow
def test_default_training_on_a_small_public_table_is_within_3_points_of_scikit_learn(tmp_path):
    out = tmp_path / "compare.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "compare_tables.py"),
            "--tables",
            "iris",
            "--seeds",
            "1",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (iris,) = json.loads(out.read_text())["tables"]
    assert (iris["rows"], iris["classes"]) == (150, 3)
    assert iris["gap"] <= 0.03, iris
    assert "largest gap" in result.stdout
