from __future__ import annotations

import numpy as np

from litmlp.callbacks.confusion_matrix import ConfusionMatrixFigure, counts_table

NAMES = ["setosa", "versicolor", "virginica"]


def test_the_image_colours_each_cell_by_its_share_of_the_true_class():
    figure = ConfusionMatrixFigure(NAMES)
    counts = np.array([[10, 0, 0], [5, 5, 0], [0, 0, 0]])
    image = figure.render(counts)
    assert image.dtype == np.uint8
    assert image.ndim == 3
    assert image.shape[2] == 3
    assert image.shape[0] >= 200  # a few hundred pixels: names, counts and the scale are legible

    def cell(row: int, col: int) -> tuple[int, ...]:
        x, y = figure.cells.axes.transData.transform((col, row))
        return tuple(int(v) for v in image[image.shape[0] - round(y), round(x)])

    def darkness(colour: tuple[int, ...]) -> int:
        return 3 * 255 - sum(colour)

    assert darkness(cell(0, 0)) > darkness(cell(1, 0)) > darkness(cell(0, 1))  # shares 1 > 0.5 > 0
    assert cell(1, 0) == cell(1, 1)  # both 0.5
    assert cell(2, 2) == cell(0, 1)  # an empty row does not divide by zero: share 0
    # The texts drawn are the counts and shares: white on a dark cell, black on a light one.
    assert figure.labels(counts)[1] == ["5\n50%", "5\n50%", "0\n0%"]

    def around(row: int, col: int) -> np.ndarray:
        x, y = figure.centres[row][col]
        return image[round(y) - 8 : round(y) + 8, round(x) - 8 : round(x) + 8].reshape(-1, 3).astype(int)

    assert (around(0, 0).min(axis=1) > 200).any()  # white text on share 1
    assert (around(0, 1).max(axis=1) < 80).any()  # black text on share 0
    assert not (around(0, 0).max(axis=1) < 80).any()  # no black text on the dark cell


def test_the_counts_table_names_true_and_predicted_classes():
    assert counts_table(np.array([[3, 1], [0, 4]]), ["no", "yes"]) == (
        "| true \\ predicted | no | yes |\n|---|---|---|\n| no | 3 | 1 |\n| yes | 0 | 4 |"
    )
