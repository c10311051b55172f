"""A real table with text categories and missing values: train -> eval -> predict -> export, as a user."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from litmlp.checkpoint import CONFIG_KEY, DATA_KEY
from litmlp.runtime.trust import load_run_config
from litmlp.tasks.trained_model import load_trained_model
from tests.conftest import run_cli, train_quickly
from tests.helpers.tables import SHOP_HEADER, write_csv, write_shop

OPTIONS = ("data=file", "data.path=shop.csv", "data.target=bought", "data.missing=impute")


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("shop")
    write_shop(cwd / "shop.csv")
    return train_quickly(cwd, *OPTIONS, "data.categorical=[store]", "trainer.max_epochs=30")


@pytest.mark.slow
def test_gaps_are_refused_by_default_naming_the_columns_and_the_option(tmp_path):
    write_shop(tmp_path / "shop.csv")
    result = run_cli("train", *OPTIONS[:3], "trainer=cpu", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "litmlp train: error: shop.csv: missing values in column 'age' (18 rows, the first is row 1), "
        "'color' (14 rows, the first is row 1); set data.missing=impute to fill them (numbers: the training "
        "median; categories: a category of their own)"
    )
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").rglob("*.ckpt"))


def test_categories_and_imputation_train_and_travel_in_the_checkpoint(shop_run):
    metrics = json.loads((shop_run / "metrics.json").read_text())
    assert metrics["test"]["test/acc"] >= 0.9  # the label is a rule of the two categories
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    encoder = checkpoint[DATA_KEY]["encoder"]
    assert encoder["missing"] == "impute"
    assert [c["name"] for c in encoder["columns"]] == SHOP_HEADER[:-1]
    age, income, color, store = encoder["columns"]
    assert (age["indicator"], income["indicator"]) == (True, False)
    assert color == {"name": "color", "categories": ["blue", "green", "red"], "fill": None, "indicator": True}
    assert store["categories"] == ["1", "2", "3"]
    assert checkpoint[DATA_KEY]["feature_names"] == [
        "age",
        "age_missing",
        "income",
        "color=blue",
        "color=green",
        "color=red",
        "color=<missing>",
        "store=1",
        "store=2",
        "store=3",
    ]
    assert metrics["data_fingerprint"] == checkpoint[DATA_KEY]["fingerprint"]
    stored = checkpoint[CONFIG_KEY]["data"]
    assert stored["path"] == str(shop_run.parent / "shop.csv")  # given as shop.csv: stored absolute
    assert stored["batch_size"] == 16  # chosen for 210 training rows, recorded


@pytest.mark.slow
def test_eval_reproduces_the_test_metrics_with_the_stored_encoding(shop_run, tmp_path):
    # From another directory: the run was trained on `data.path=shop.csv`, stored as an absolute path.
    metrics = json.loads((shop_run / "metrics.json").read_text())
    result = run_cli(
        "eval", f"ckpt_path={metrics['best_checkpoint']}", "hydra.run.dir=evaluated", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads((tmp_path / "evaluated" / "metrics.json").read_text())
    assert evaluated["test"]["test/acc"] == metrics["test"]["test/acc"]
    assert "not the rows the checkpoint was trained on" not in result.stdout + result.stderr


@pytest.mark.slow
def test_eval_on_other_rows_says_their_fingerprint_differs(shop_run, tmp_path):
    metrics = json.loads((shop_run / "metrics.json").read_text())
    write_shop(tmp_path / "other.csv", 240, seed=5)
    result = run_cli(
        "eval",
        f"ckpt_path={metrics['best_checkpoint']}",
        f"+data.path={tmp_path / 'other.csv'}",
        "hydra.run.dir=evaluated",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stored = metrics["data_fingerprint"]
    assert (
        "other.csv: these are not the rows the checkpoint was trained on (data fingerprint " in result.stdout
    )
    assert f"{stored[:12]} in the checkpoint)" in result.stdout
    assert json.loads((tmp_path / "evaluated" / "metrics.json").read_text())["test"]["test/acc"] >= 0.9


def test_predict_encodes_an_unseen_category_as_zeros_and_fills_gaps(shop_run, tmp_path):
    checkpoint = json.loads((shop_run / "metrics.json").read_text())["best_checkpoint"]
    rows = [
        ["35.0", "48.0", "red", "1"],
        ["", "52.0", "purple", "2"],
        ["61.5", "", "", "3"],
        ["44", "50", "blue", "9"],
    ]
    write_csv(tmp_path / "new.csv", SHOP_HEADER[:-1], rows)
    result = run_cli("predict", f"ckpt_path={checkpoint}", "input=new.csv", "output=out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "new.csv: column 'color': 1 row(s) with a category not seen in training, encoded as all zeros"
        in result.stdout
    )
    assert "new.csv: column 'store': 1 row(s) with a category not seen in training" in result.stdout
    with (tmp_path / "out.csv").open(newline="") as file:
        header, *written = list(csv.reader(file))
    assert header == ["prediction", "prob_no", "prob_yes"]
    # The same rows encoded by hand (medians from the checkpoint) give the same probabilities.
    trained = load_trained_model(checkpoint, load_run_config(checkpoint, []))
    age_median = trained.encoder.columns[0].fill
    income_median = trained.encoder.columns[1].fill
    by_hand = torch.tensor(
        [
            [35.0, 0, 48.0, 0, 0, 1, 0, 1, 0, 0],
            [age_median, 1, 52.0, 0, 0, 0, 0, 0, 1, 0],  # purple: no color input set
            [61.5, 0, income_median, 0, 0, 0, 1, 0, 0, 1],  # a missing color is its own category
            [44.0, 0, 50.0, 1, 0, 0, 0, 0, 0, 0],  # store 9: no store input set
        ]
    )
    with torch.no_grad():
        expected = trained.model(by_hand).numpy()
    got = np.array([[float(v) for v in row[1:]] for row in written])
    assert np.allclose(got, expected, atol=1e-5)
    assert [row[0] for row in written] == [trained.classes[i] for i in expected.argmax(axis=1)]


@pytest.mark.slow
def test_export_names_the_encoded_inputs_and_carries_the_encoding(shop_run, tmp_path):
    checkpoint = json.loads((shop_run / "metrics.json").read_text())["best_checkpoint"]
    output = tmp_path / "model.pt"
    result = run_cli("export", f"ckpt_path={checkpoint}", f"output={output}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    files = {"litmlp.json": ""}
    torch.jit.load(str(output), _extra_files=files)
    metadata = json.loads(files["litmlp.json"])
    assert metadata["inputs"][:4] == ["age", "age_missing", "income", "color=blue"]
    assert metadata["encoding"]["columns"][3]["categories"] == ["1", "2", "3"]
    assert OmegaConf.create(metadata["encoding"]).missing == "impute"
