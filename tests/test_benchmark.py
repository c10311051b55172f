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
def test_benchmark_fits_the_cost_model_of_every_variant_and_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    tiny = ["--num-samples", "600", "--batch-sizes", "64", "--repeats", "1"]
    ladder = ["--ladder", "--ladder-rows", "600", "--ladder-batch-sizes", "64", "256"]
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), *tiny, *ladder, "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    (model,) = results["cost_model"]
    assert (model["batch_size"], model["steps_per_epoch"]) == (64, 7)  # 420 training rows
    variants = model["variants"]
    assert set(variants) == {"tutorial", "raw", "lht", "litmlp", "bare"}
    for fit in variants.values():
        # The full epoch the model predicts, and the throughput that follows from it.
        assert fit["epoch_s"] == pytest.approx(fit["per_epoch_s"] + 7 * fit["per_step_s"])
        assert fit["samples_per_s"] == pytest.approx(420 / fit["epoch_s"])
        assert 0 <= fit["worst_residual"] < 1
    for term in ("start_up_s", "per_epoch_s", "per_step_s"):
        for other in ("bare", "raw"):
            ratio = variants["litmlp"][term] / variants[other][term]
            assert model["litmlp_over"][term][other] == pytest.approx(ratio)
    assert [(row["num_samples"], row["batch_size"]) for row in results["ladder"]] == [(600, 64), (600, 256)]
    assert all(speed > 0 for row in results["ladder"] for speed in row["samples_per_s"].values())
    first = results["first_step"]
    assert 0 < first["litmlp_fit_s"] < first["litmlp_step_s"]
    assert first["import_torch_s"] < first["import_lightning_s"]
    assert results["end_to_end"]["epochs"] >= 1
    for line in ("litmlp/bare", "litmlp/raw", "time to first step", "litmlp --help", "d/e"):
        assert line in result.stdout


@pytest.mark.slow
@pytest.mark.compare
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


@pytest.mark.slow
def test_the_serving_benchmark_loads_both_servers_and_writes_its_json(tmp_path):
    pytest.importorskip("litserve")
    out = tmp_path / "serve.json"
    tiny = ["--requests", "40", "--seconds", "10", "--rounds", "2", "--concurrency", "4", "--batch-rows", "8"]
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark_serve.py"), *tiny, "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results) == {f"{rows}, batching {b}" for rows in ("1 row", "8 rows") for b in ("on", "off")}
    for line in results.values():
        assert (line["requests"], line["errors"]) == (40, 0)  # every request answered 200
        assert len(line["rounds_requests_per_s"]) == 2
        assert line["p50_ms"] <= line["p99_ms"]
    assert "1 row: batching on/off requests/s" in result.stdout
