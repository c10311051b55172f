"""K-fold cross-validation: `data.folds=K data.fold=i` validates on one fold of the rows outside the test
split, which stays the same for every fold; a sweep over the folds is summarised like seeds."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
import yaml

from litmlp.data import FileDataModule, SyntheticDataModule
from litmlp.data.tabular import stratified_split
from litmlp.errors import BadValueError, LitmlpError, UsageError
from tests.conftest import run_cli
from tests.sweeps.test_summary import TINY


def test_folds_partition_the_rows_outside_a_fixed_test_split():
    targets = torch.arange(1000) % 3
    folds = [stratified_split(targets, 0.15, 0.2, seed=4, folds=5, fold=fold) for fold in range(5)]
    plain_test = stratified_split(targets, 0.15, 0.2, seed=4)[2]
    for train, val, test in folds:
        assert torch.equal(test, plain_test)  # the test rows of a run without folds, whatever the fold
        assert len(set(train.tolist()) | set(val.tolist()) | set(test.tolist())) == 1000
        assert not set(train.tolist()) & set(val.tolist())
        counts = torch.bincount(targets[val], minlength=3)  # stratified: each class a fifth of its rows
        assert counts.max() - counts.min() <= 1
    validated = torch.cat([val for _, val, _ in folds])
    assert sorted(validated.tolist()) == sorted(set(range(1000)) - set(plain_test.tolist()))


def test_a_fold_run_validates_on_its_fold():
    data = SyntheticDataModule(num_samples=600, folds=3, fold=1)
    sizes = {name: len(data.split(name)[1]) for name in ("train", "val", "test")}
    # 200 rows a class: 30 test, the other 170 cut at rows 57 and 113 of each class.
    assert sizes == {"train": 3 * (170 - 56), "val": 3 * 56, "test": 90}


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"folds": 3, "fold": 3}, BadValueError, "fold=3: must be from 0 to 2 (data.folds=3)"),
        ({"folds": 1}, BadValueError, "folds=1: must be at least 2"),
        ({"fold": 2}, UsageError, "data.fold=2 needs data.folds (the number of cross-validation folds)"),
    ],
)
def test_impossible_folds_are_refused_naming_the_key(arguments, error, message):
    with pytest.raises(error) as raised:
        SyntheticDataModule(**arguments)
    assert str(raised.value) == message


def test_folds_are_refused_with_a_validation_file(tmp_path):
    with pytest.raises(UsageError, match=r"data\.folds cuts the validation rows out of data\.path"):
        FileDataModule(path=str(tmp_path / "rows.csv"), val_path=str(tmp_path / "val.csv"), folds=5)


@pytest.mark.slow
def test_a_fold_sweep_runs_every_fold_and_the_summary_aggregates_them(tmp_path):
    result = run_cli("train", "-m", "data.folds=3", "data.fold=range(3)", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    runs = sorted(path for path in sweep_dir.iterdir() if (path / "metrics.json").is_file())
    assert len(runs) == 3
    fingerprints = set()
    for run in runs:  # each run directory records its fold, and trained on other rows
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert (config["data"]["folds"], config["data"]["fold"]) == (3, int(run.name))
        pattern = rf"Fold {run.name} of 3: (\d+) training rows, (\d+) validation rows, 90 test rows"
        train_rows, val_rows = re.search(pattern, (run / "train.log").read_text()).groups()
        assert int(train_rows) + int(val_rows) == 510
        fingerprints.add(json.loads((run / "metrics.json").read_text())["data_fingerprint"])
    assert len(fingerprints) == 3
    with (sweep_dir / "summary_settings.csv").open(newline="") as file:
        (setting,) = list(csv.DictReader(file))
    assert (setting["runs"], setting["repeats"]) == ("3/3", "data.fold=0 data.fold=1 data.fold=2")
    accuracies = [json.loads((run / "metrics.json").read_text())["test"]["test/acc"] for run in runs]
    assert float(setting["test/acc mean"]) == pytest.approx(sum(accuracies) / 3, abs=1e-6)
    assert (sweep_dir / "summary.md").read_text().startswith("## 1 setting over data.fold")


@pytest.mark.slow
def test_a_fold_run_resumes_to_the_uninterrupted_result(tmp_path):
    from tests.tasks.test_resume import RUN, TRUST, assert_same_run, interrupt

    fold = ("data.folds=4", "data.fold=2")
    reference = run_cli("train", *RUN, *fold, "hydra.run.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    first = run_cli(
        "train", *RUN, *fold, *interrupt(7, "batch_end", "SIGTERM"), "hydra.run.dir=run", cwd=tmp_path
    )
    assert first.returncode == 143, first.stderr[-3000:]
    resumed = run_cli("train", f"resume={tmp_path / 'run'}", TRUST, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Fold 2 of 4" in (tmp_path / "run" / "train.log").read_text()
    # 2000 rows: 300 test, 3 folds of 1700 (1275 rows) train in batches of 128: 10 steps an epoch.
    assert_same_run(tmp_path / "run", tmp_path / "reference", steps=4 * 10)


def test_a_class_with_fewer_rows_than_folds_is_refused_naming_it():
    data = SyntheticDataModule(num_samples=30, folds=9)  # 10 rows a class, 2 of them test rows
    with pytest.raises(LitmlpError, match=r"class '0' has 8 rows outside the test split; data\.folds=9"):
        data.setup()
