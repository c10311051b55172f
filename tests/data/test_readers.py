"""Bad user data is refused with one line naming the file, the column and the first offending row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from litmlp.data import FileDataModule
from litmlp.data.readers import class_names, read_table
from litmlp.errors import LitmlpError
from tests.helpers.tables import SPECIES, write_csv, write_flowers


def refused(message: str, path: Path, **kwargs: Any) -> None:
    with pytest.raises(LitmlpError) as raised:
        FileDataModule(str(path), target="species", **kwargs).setup()
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_csv_with_text_labels_is_read_with_sorted_class_names(tmp_path):
    datamodule = FileDataModule(str(write_flowers(tmp_path / "f.csv")), target="species")
    datamodule.setup()
    assert datamodule.classes == list(SPECIES)
    assert datamodule.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert (datamodule.num_features, datamodule.num_classes) == (4, 3)
    assert sum(len(datamodule.split(name)[1]) for name in ("train", "val", "test")) == 600


def test_listed_feature_columns_only(tmp_path):
    datamodule = FileDataModule(
        str(write_flowers(tmp_path / "f.csv")), target="species", features=["petal_width", "sepal_length"]
    )
    assert datamodule.num_features == 2
    assert datamodule.feature_names == ["petal_width", "sepal_length"]


def test_numeric_labels_sort_as_numbers():
    assert class_names(["10", "9", "2"]) == ["2", "9", "10"]


def test_missing_file(tmp_path):
    refused(f"data file not found: {tmp_path / 'nope.csv'}", tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    (tmp_path / "e.csv").write_text("")
    refused(f"{tmp_path / 'e.csv'} is empty", tmp_path / "e.csv")


def test_header_only_file(tmp_path):
    path = write_csv(tmp_path / "h.csv", ["a", "species"], [])
    refused(f"{path} has a header but no rows", path)


def test_non_numeric_feature_names_column_and_row(tmp_path):
    path = write_csv(
        tmp_path / "n.csv", ["a", "b", "species"], [[1, 2, "x"], [3, "tall", "y"], [5, "?", "x"]]
    )
    refused(f"{path}: column 'b' row 2: 'tall' is not a number", path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_values(tmp_path, value):
    path = write_csv(tmp_path / "f.csv", ["a", "species"], [[1, "x"], [value, "y"]])
    refused(f"{path}: column 'a' row 2: {value} is not a finite number", path)


def test_missing_target_column(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "kind"], [[1, "x"]])
    refused(f"{path}: target column 'species' not found (columns: a, kind)", path)


def test_ragged_row(tmp_path):
    path = write_csv(tmp_path / "r.csv", ["a", "b", "species"], [[1, 2, "x"], [1, "x"]])
    refused(f"{path}: row 2 has 2 fields, the header has 3", path)


def test_empty_label(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a", "species"], [[1, "x"], [2, ""]])
    refused(f"{path}: column 'species' row 2 is empty", path)


def test_class_too_small_for_a_stratified_split(tmp_path):
    rows = [[i, "common"] for i in range(40)] + [[1, "rare"], [2, "rare"]]
    path = write_csv(tmp_path / "s.csv", ["a", "species"], rows)
    refused(
        f"{path}: class 'rare' has 2 rows; a stratified split with val_fraction=0.15 and "
        "test_fraction=0.15 needs at least 5 rows per class",
        path,
    )


def test_split_that_leaves_test_empty(tmp_path):
    path = write_flowers(tmp_path / "f.csv")
    refused(f"{path}: the test split is empty", path, test_fraction=0.0)


def test_separate_val_and_test_files(tmp_path):
    datamodule = FileDataModule(
        str(write_flowers(tmp_path / "train.csv", 300)),
        target="species",
        val_path=str(write_flowers(tmp_path / "val.csv", 50, seed=1)),
        test_path=str(write_flowers(tmp_path / "test.csv", 70, seed=2)),
    )
    sizes = {name: len(datamodule.split(name)[1]) for name in ("train", "val", "test")}
    assert sizes == {"train": 300, "val": 50, "test": 70}


def test_empty_validation_file(tmp_path):
    val = write_csv(
        tmp_path / "val.csv", ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"], []
    )
    refused(f"{val} has a header but no rows", write_flowers(tmp_path / "f.csv"), val_path=str(val))


def test_parquet_is_read_and_its_nulls_are_refused(tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "species": ["x", "y", "x"]}), good)
    table = read_table(good, "species")
    assert table.features.tolist() == [[1.0], [2.0], [3.0]]
    assert table.labels == ["x", "y", "x"]
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "species": ["x", "y", "x"]}), bad)
    with pytest.raises(LitmlpError, match=r"bad\.parquet: column 'a' row 2 is empty"):
        read_table(bad, "species")
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"a": ["p", "q"], "species": ["x", "y"]}), text)
    with pytest.raises(LitmlpError, match=r"column 'a' is of type string, not a number"):
        read_table(text, "species")


def test_npz_is_read_and_pickled_arrays_are_refused(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.arange(6.0).reshape(3, 2), y=np.array(["b", "a", "b"]))
    table = read_table(good, target=None)
    assert table.features.shape == (3, 2)
    assert table.labels == ["b", "a", "b"]
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(LitmlpError, match=r"not a readable \.npz file"):
        read_table(pickled, target=None)


def test_unsupported_extension(tmp_path):
    (tmp_path / "rows.xlsx").write_text("x")
    with pytest.raises(LitmlpError, match=r"unsupported file type '\.xlsx'"):
        read_table(tmp_path / "rows.xlsx", "species")


def test_checkpoint_with_another_feature_count_is_refused(tmp_path):
    datamodule = FileDataModule(str(write_flowers(tmp_path / "f.csv")), target="species")
    state = {
        "feature_mean": torch.zeros(7),
        "feature_std": torch.ones(7),
        "feature_names": list("abcdefg"),
        "classes": list(SPECIES),
    }
    with pytest.raises(LitmlpError, match=r"f\.csv has 4 features, the checkpoint was trained on 7"):
        datamodule.load_state_dict(state)
