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


def test_a_stray_text_in_a_column_of_numbers_names_column_and_row(tmp_path):
    # 29 numbers and one word: a typo in a numeric column, not a column of categories.
    rows = [[i, i % 7, SPECIES[i % 3]] for i in range(30)]
    rows[12][1] = "tall"
    path = write_csv(tmp_path / "n.csv", ["a", "b", "species"], rows)
    refused(f"{path}: column 'b' row 13: 'tall' is not a number", path)


@pytest.mark.parametrize(("value", "shown"), [("inf", "inf"), ("-inf", "-inf"), ("1e300", "1e+300")])
def test_values_beyond_float32_are_refused(tmp_path, value, shown):
    path = write_csv(tmp_path / "f.csv", ["a", "species"], [[1, "x"], [value, "y"]])
    refused(f"{path}: column 'a' row 2: {shown} is not a finite float32 number", path)


@pytest.mark.parametrize("value", ["", "nan", "NA", "null"])
def test_a_missing_value_is_refused_naming_the_column_and_the_option(tmp_path, value):
    path = write_csv(
        tmp_path / "f.csv", ["a", "b", "species"], [[1, 2, "x"], [3, value, "y"], [4, value, "x"]]
    )
    refused(
        f"{path}: missing values in column 'b' (2 rows, the first is row 2); set data.missing=impute",
        path,
    )


def test_missing_target_column(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "kind"], [[1, "x"]])
    refused(f"{path}: target column 'species' not found (columns: a, kind)", path)


def test_ragged_row(tmp_path):
    path = write_csv(tmp_path / "r.csv", ["a", "b", "species"], [[1, 2, "x"], [1, "x"]])
    refused(f"{path}: row 2 has 2 fields, the header has 3", path)


def test_rows_without_a_label_are_left_out_and_counted(tmp_path, caplog):
    rows = [[i, SPECIES[i % 3]] for i in range(60)] + [[7, ""], [8, "NA"]]
    path = write_csv(tmp_path / "l.csv", ["a", "species"], rows)
    datamodule = FileDataModule(str(path), target="species")
    datamodule.setup()
    assert sum(len(datamodule.split(name)[1]) for name in ("train", "val", "test")) == 60
    assert datamodule.classes == list(SPECIES)
    assert f"{path}: 2 row(s) without a 'species' value left out (first: row 61)" in caplog.text
    unlabelled = write_csv(tmp_path / "u.csv", ["a", "species"], [[1, ""], [2, ""]])
    refused(f"{unlabelled}: column 'species' has no values (all 2 rows are empty)", unlabelled)


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


def test_parquet_numbers_texts_and_nulls_are_read_as_cells(tmp_path):
    path = tmp_path / "t.parquet"
    columns = {"a": [1.0, None, 3.0], "n": [1, 2, None], "c": ["p", None, "q"], "species": ["x", "y", "x"]}
    pq.write_table(pa.table(columns), path)
    table = read_table(path, "species")
    assert table.cells["a"].numbers is not None
    assert np.isnan(table.cells["a"].numbers[1])
    assert table.cells["n"].numbers.tolist()[:2] == [1.0, 2.0]
    assert table.cells["c"].texts == ["p", None, "q"]
    assert table.labels == ["x", "y", "x"]
    dates = tmp_path / "dates.parquet"
    pq.write_table(pa.table({"d": pa.array([0, 1], pa.date32()), "species": ["x", "y"]}), dates)
    with pytest.raises(LitmlpError, match=r"column 'd' is of type date32\[day\], not a number or text"):
        read_table(dates, "species")


def test_npz_is_read_and_pickled_arrays_are_refused(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.arange(6.0).reshape(3, 2), y=np.array(["b", "a", "b"]))
    table = read_table(good, target=None)
    assert table.feature_names == ["x0", "x1"]
    assert table.cells["x1"].numbers.tolist() == [1.0, 3.0, 5.0]
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


def test_a_column_name_twice_in_the_header_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["f0", "f0", "f1", "species"], [[1, 2, 3, "x"]])
    refused(f"{path}: column name 'f0' appears twice in the header (columns 1 and 2); rename one", path)
    twice = write_csv(tmp_path / "t.csv", ["f0", "species", "species"], [[1, "x", "y"]])
    refused(f"{twice}: column name 'species' appears twice in the header (columns 2 and 3)", twice)


def test_the_target_cannot_also_be_a_feature(tmp_path):
    path = write_flowers(tmp_path / "f.csv")
    refused(
        f"{path}: column 'species' is the target and cannot also be a feature",
        path,
        features=["sepal_length", "species"],
    )


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "bom.csv"
    rows = "".join(f"{i},{SPECIES[i % 3]}\n" for i in range(60))
    path.write_bytes(b"\xef\xbb\xbfsize,species\n" + rows.encode())
    datamodule = FileDataModule(str(path), target="species")
    datamodule.setup()
    assert datamodule.feature_names == ["size"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_text_with_a_byte_order_mark_is_read_as_such(tmp_path, encoding):
    """Excel's "Unicode text" export is UTF-16 with a byte-order mark: read, not refused as binary."""
    path = tmp_path / "wide.csv"
    rows = "".join(f"{i},{SPECIES[i % 3]}é\n" for i in range(60))
    text = "size,species\n" + rows
    bom = {"utf-16-be": b"\xfe\xff"}.get(encoding, b"")  # Python's utf-16/32 codecs write their own
    path.write_bytes(bom + text.encode(encoding))
    datamodule = FileDataModule(str(path), target="species")
    datamodule.setup()
    assert datamodule.feature_names == ["size"]
    assert datamodule.classes == sorted(f"{name}é" for name in SPECIES)


def test_utf16_without_a_byte_order_mark_is_read_when_named_and_refused_with_the_setting_otherwise(
    tmp_path,
):
    path = tmp_path / "wide.csv"
    path.write_bytes(
        ("size,species\n" + "".join(f"{i},{SPECIES[i % 3]}\n" for i in range(60))).encode("utf-16-le")
    )
    refused(
        f"{path}: binary content (NUL bytes), not a CSV text file (for UTF-16 text without a "
        "byte-order mark, set data.encoding=utf-16-le",
        path,
    )
    datamodule = FileDataModule(str(path), target="species", encoding="utf-16-le")
    datamodule.setup()
    assert datamodule.classes == list(SPECIES)


def test_numeric_labels_are_one_class_however_written(tmp_path):
    rows = [[i, ("1", "1.0", "01", "2", "2.00")[i % 5]] for i in range(60)]
    path = write_csv(tmp_path / "n.csv", ["a", "species"], rows)
    datamodule = FileDataModule(str(path), target="species")
    datamodule.setup()
    assert datamodule.classes == ["1", "2"]


def test_a_class_found_only_in_a_held_out_file_is_refused(tmp_path):
    train = write_flowers(tmp_path / "train.csv", 120)
    val = write_csv(
        tmp_path / "val.csv",
        ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"],
        [[0, 0, 0, 0, "setosa"], [1, 1, 1, 1, "rosa"]],
    )
    refused(
        f"{val}: class 'rosa' does not occur in {train}, the training rows: the model could never predict it",
        train,
        val_path=str(val),
    )


def test_npz_nan_labels_are_missing_and_complex_features_are_refused(tmp_path):
    path = tmp_path / "y.npz"
    labels = np.array([float(i % 3) for i in range(60)] + [np.nan, np.nan])
    np.savez(path, x=np.arange(62.0).reshape(62, 1), y=labels)
    table = read_table(path, target=None)
    assert len(table) == 60
    assert sorted(set(table.labels or [])) == ["0", "1", "2"]  # 0.0 is the label 0
    complex_path = tmp_path / "c.npz"
    np.savez(complex_path, x=np.ones((3, 2), dtype=np.complex64), y=np.array([0, 1, 0]))
    with pytest.raises(LitmlpError, match=r"c\.npz: 'x' holds complex64 values, not real numbers"):
        read_table(complex_path, target=None)
