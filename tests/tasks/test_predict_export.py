"""Train on a user CSV with text labels, then predict and export from its checkpoint, as a user would."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from litmlp.runtime.trust import load_run_config
from litmlp.tasks.trained_model import load_trained_model
from tests.conftest import REPO, run_cli, train_quickly
from tests.helpers.tables import SPECIES, flower_rows, write_flowers


@pytest.fixture(scope="session")
def flowers_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("flowers")
    write_flowers(cwd / "flowers.csv")
    return train_quickly(
        cwd, "data=file", "data.path=flowers.csv", "data.target=species", "trainer.max_epochs=4"
    )


def read_predictions(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with path.open(newline="") as file:
        header, *rows = list(csv.reader(file))
    return header, [row[0] for row in rows], np.array([[float(v) for v in row[1:]] for row in rows])


def test_predict_writes_label_names_and_probabilities(flowers_run, tmp_path):
    write_flowers(tmp_path / "new.csv", 120, seed=7)
    result = run_cli(
        "predict",
        f"ckpt_path={flowers_run / 'checkpoints' / 'last.ckpt'}",
        "input=new.csv",
        "output=out/predictions.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    header, labels, probabilities = read_predictions(tmp_path / "out" / "predictions.csv")
    assert header == ["prediction", *(f"prob_{name}" for name in SPECIES)]
    assert len(labels) == 120
    assert set(labels) <= set(SPECIES)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert labels == [SPECIES[i] for i in probabilities.argmax(axis=1)]
    assert "accuracy on its 'species' column" in result.stdout


@pytest.mark.slow
def test_predictions_match_the_checkpoints_model_with_or_without_target_and_in_any_batch_size(
    flowers_run, tmp_path
):
    checkpoint = flowers_run / "checkpoints" / "last.ckpt"
    write_flowers(tmp_path / "with.csv", 50, seed=3)
    write_flowers(tmp_path / "without.csv", 50, seed=3, with_target=False)
    for name, batch_size in (("with", 4096), ("without", 7)):
        result = run_cli(
            "predict",
            f"ckpt_path={checkpoint}",
            f"input={name}.csv",
            f"output={name}.out.csv",
            f"batch_size={batch_size}",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    _, with_labels, with_probabilities = read_predictions(tmp_path / "with.out.csv")
    _, without_labels, without_probabilities = read_predictions(tmp_path / "without.out.csv")
    assert with_labels == without_labels
    assert np.array_equal(with_probabilities, without_probabilities)

    trained = load_trained_model(checkpoint, load_run_config(checkpoint, []))
    features, _ = flower_rows(50, seed=3)
    with torch.no_grad():
        expected = trained.model(torch.tensor(features.round(6), dtype=torch.float32)).numpy()
    assert np.allclose(with_probabilities, expected, atol=1e-5)


@pytest.mark.slow
def test_predict_refuses_input_missing_a_feature(flowers_run, tmp_path):
    (tmp_path / "few.csv").write_text("sepal_length,sepal_width\n1,2\n")
    result = run_cli(
        "predict",
        f"ckpt_path={flowers_run / 'checkpoints' / 'last.ckpt'}",
        "input=few.csv",
        "output=o.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert (
        "few.csv: feature column 'petal_length' not found; the checkpoint was trained on 4 feature columns"
        in result.stderr
    )
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_predict_refuses_npz_with_another_feature_count(flowers_run, tmp_path):
    np.savez(tmp_path / "wide.npz", x=np.zeros((3, 6)))
    result = run_cli(
        "predict",
        f"ckpt_path={flowers_run / 'checkpoints' / 'last.ckpt'}",
        "input=wide.npz",
        "output=o.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "wide.npz has 6 feature columns, the checkpoint was trained on 4" in result.stderr


@pytest.mark.parametrize("export_format", ["torchscript", pytest.param("onnx", marks=pytest.mark.slow)])
def test_export_is_self_contained_and_matches_pytorch(flowers_run, tmp_path, export_format):
    checkpoint = flowers_run / "checkpoints" / "last.ckpt"
    output = tmp_path / f"model.{export_format}"
    result = run_cli(
        "export", f"ckpt_path={checkpoint}", f"format={export_format}", f"output={output}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "max abs difference to PyTorch on 256 rows" in result.stdout
    assert result.stderr == ""  # no third-party warnings (torchvision operators, deprecations)
    assert "torchvision" not in result.stdout

    features = torch.tensor(flower_rows(64, seed=11)[0], dtype=torch.float32)
    trained = load_trained_model(checkpoint, load_run_config(checkpoint, []))
    with torch.no_grad():
        expected = trained.model(features)
    if export_format == "torchscript":
        extra = {"litmlp.json": ""}
        loaded = torch.jit.load(str(output), _extra_files=extra)
        with torch.no_grad():
            got = loaded(features)
        metadata = json.loads(extra["litmlp.json"])
    else:
        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"features": features.numpy()})[0])
        metadata = json.loads(session.get_modelmeta().custom_metadata_map["litmlp"])
    assert float((got - expected).abs().max()) < 1e-5
    assert metadata["outputs"] == list(SPECIES)
    assert metadata["inputs"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.mark.slow
def test_eval_on_the_users_table_reproduces_train(flowers_run, tmp_path):
    metrics = json.loads((flowers_run / "metrics.json").read_text())
    result = run_cli("eval", f"ckpt_path={metrics['best_checkpoint']}", "trainer=cpu", cwd=flowers_run.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (flowers_run.parent / "logs" / "eval" / "runs").iterdir()
    assert json.loads((run / "metrics.json").read_text())["test"] == pytest.approx(metrics["test"], abs=1e-6)


@pytest.mark.slow
def test_predict_stopped_by_sigterm_says_so_and_leaves_no_file(flowers_run, tmp_path):
    rows = np.random.default_rng(0).normal(size=(1_000_000, 4))
    np.savetxt(
        tmp_path / "big.csv",
        rows,
        fmt="%.4f",
        delimiter=",",
        comments="",
        header="sepal_length,sepal_width,petal_length,petal_width",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "litmlp",
            "predict",
            f"ckpt_path={flowers_run / 'checkpoints' / 'last.ckpt'}",
            "input=big.csv",
            "output=out.csv",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    waited = 0.0
    while not list(tmp_path.glob(".out.csv.*.partial.csv")) and process.poll() is None and waited < 120:
        time.sleep(0.02)
        waited += 0.02
    assert process.poll() is None, "predict ended before it was stopped"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert stderr.strip().splitlines()[-1] == "litmlp predict: stopped by SIGTERM; nothing was written"
    assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == []
