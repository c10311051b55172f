"""Categorical and missing values: encoded from the training split only, stored, reused the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from litmlp.data import FileDataModule
from litmlp.data.columns import Cells, Column, ColumnEncoder, _number, category_text
from litmlp.errors import LitmlpError
from tests.helpers.tables import write_csv, write_shop

PATH = Path("t.csv")


def fit(cells: dict[str, Cells], train_rows: list[int], **options: Any) -> ColumnEncoder:
    return ColumnEncoder.fit(cells, np.array(train_rows), path=PATH, **options)


def test_text_columns_are_one_hot_with_categories_from_the_training_rows_only():
    cells = {
        "color": Cells.from_texts(["red", "blue", "red", "green"]),
        "size": Cells.from_texts(["1", "2", "3", "4"]),
    }
    encoder = fit(cells, [0, 1, 2])  # "green" is only in a held-out row
    assert encoder.feature_names == ["color=blue", "color=red", "size"]
    features = encoder.transform(cells, PATH)
    assert features.tolist() == [[0, 1, 1], [1, 0, 2], [0, 1, 3], [0, 0, 4]]  # green: all zeros
    assert encoder.unseen == {"color": 1}


def test_integer_coded_columns_become_categories_when_named():
    cells = {"store": Cells(numbers=np.array([1.0, 2.0, 3.0, 2.0]))}
    encoder = fit(cells, [0, 1, 2, 3], categorical=["store"])
    assert encoder.feature_names == ["store=1", "store=2", "store=3"]
    # Written as 2 or 2.0 or 02, it is the same category.
    again = encoder.transform({"store": Cells.from_texts(["2", "2.0", "02"])}, PATH)
    assert again.tolist() == [[0, 1, 0]] * 3
    with pytest.raises(LitmlpError, match=r"data.categorical: 'shop' is not a feature column of t.csv"):
        fit(cells, [0], categorical=["shop"])


def test_imputation_uses_training_medians_with_an_indicator_and_a_missing_category():
    cells = {
        "age": Cells.from_texts(["10", "", "30", "1000", ""]),
        "height": Cells.from_texts(["1", "2", "3", "4", ""]),
        "color": Cells.from_texts(["red", "NA", "blue", "red", "red"]),
    }
    encoder = fit(cells, [0, 1, 2], missing="impute")  # training medians: age 20, height 2
    assert encoder.feature_names == [
        "age",
        "age_missing",
        "height",  # no gap in the training rows: no indicator, but its median fills a later gap
        "color=blue",
        "color=red",
        "color=<missing>",
    ]
    features = encoder.transform(cells, PATH)
    assert features.tolist() == [
        [10, 0, 1, 0, 1, 0],
        [20, 1, 2, 0, 0, 1],
        [30, 0, 3, 1, 0, 0],
        [1000, 0, 4, 0, 1, 0],
        [20, 1, 2, 0, 1, 0],
    ]
    restored = ColumnEncoder.from_state(encoder.state())
    assert np.array_equal(restored.transform(cells, PATH), features)


def test_by_default_missing_values_are_refused_naming_every_column():
    cells = {"a": Cells.from_texts(["1", "", "3"]), "b": Cells.from_texts(["x", "y", "null"])}
    encoder = fit(cells, [0, 1, 2])
    with pytest.raises(LitmlpError) as raised:
        encoder.transform(cells, PATH)
    assert str(raised.value) == (
        "t.csv: missing values in column 'a' (1 row, the first is row 2), 'b' (1 row, the first is row 3); "
        "set data.missing=impute to fill them (numbers: the training median; categories: a category of "
        "their own)"
    )


def test_an_identifier_column_is_not_taken_for_categories():
    cells = {"id": Cells.from_texts([f"user{i}" for i in range(500)])}
    with pytest.raises(
        LitmlpError, match=r"column 'id' has 500 distinct text values .* data.features=\[...\]"
    ):
        fit(cells, list(range(500)))


def test_the_datamodule_encodes_held_out_files_with_the_training_encoding(tmp_path, caplog):
    train = write_shop(tmp_path / "train.csv", 120, with_gaps=False)
    val = write_csv(
        tmp_path / "val.csv",
        ["age", "income", "color", "store", "bought"],
        [[40, 50, "purple", 1, "yes"], [41, 51, "red", 2, "no"]] * 5,
    )
    datamodule = FileDataModule(str(train), target="bought", val_path=str(val), categorical=["store"])
    datamodule.setup()
    assert datamodule.feature_names == [
        "age",
        "income",
        "color=blue",
        "color=green",
        "color=red",
        "store=1",
        "store=2",
        "store=3",
    ]
    features, _ = datamodule.split("val")
    assert features.shape == (10, 8)
    assert f"{val}: column 'color': 5 row(s) with a category not in the training split" in caplog.text
    state = datamodule.state_dict()
    assert state["encoder"]["columns"][2] == {
        "name": "color",
        "categories": ["blue", "green", "red"],
        "fill": None,
        "indicator": False,
    }


@pytest.mark.parametrize(
    ("written", "category"),
    [
        ("1", "1"),
        ("1.0", "1"),
        ("01", "1"),
        ("+1", "1"),
        ("-3.00", "-3"),
        ("2.50", "2.5"),
        ("1e3", "1000"),
        ("1e16", "10000000000000000"),  # repr() writes it 1e+16: once an endless recursion
        ("-2.5e17", "-250000000000000000"),
        ("9007199254740993", "9007199254740993"),
        ("red", "red"),
        (" 0x1", " 0x1"),
    ],
)
def test_a_category_has_one_text_whether_read_as_text_or_as_a_number(written, category):
    assert category_text(written) == category
    number = _number(written)
    if number is not None and written.strip() == written and abs(number) < 2**53:
        # The same cell read into a numeric column is the same category.
        encoder = ColumnEncoder([Column("c", categories=[category])])
        assert encoder.transform({"c": Cells(numbers=np.array([number]))}, PATH).tolist() == [[1.0]]
