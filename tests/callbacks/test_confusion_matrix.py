from __future__ import annotations

import numpy as np
import torch

from litmlp.callbacks.confusion_matrix import CELL_PIXELS, render_confusion_matrix


def test_rendered_cells_darken_with_the_row_rate():
    confusion = torch.tensor([[10, 0, 0], [5, 5, 0], [0, 0, 0]])
    image = render_confusion_matrix(confusion)
    assert image.shape == (3 * CELL_PIXELS, 3 * CELL_PIXELS, 3)
    assert image.dtype == np.uint8

    def cell(row: int, col: int) -> np.ndarray:
        return image[row * CELL_PIXELS + CELL_PIXELS // 2, col * CELL_PIXELS + CELL_PIXELS // 2]

    assert tuple(cell(0, 0)) == (8, 48, 107)  # rate 1: darkest
    assert tuple(cell(0, 1)) == (255, 255, 255)  # rate 0: white
    assert cell(1, 0).tolist() == cell(1, 1).tolist()  # both 0.5
    assert tuple(cell(2, 2)) == (255, 255, 255)  # an empty row does not divide by zero
