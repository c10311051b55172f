"""The validation confusion matrix in TensorBoard, at the val scalars' step: the counts as a table (Text)
after every validation epoch, and an image (counts and row shares over a colour scale, class names on the
axes, drawn by matplotlib; Images) every few epochs and for the last one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from litmlp.errors import at_least

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TAG = "val/confusion_matrix"
# Cells are annotated with their count and share up to this many classes; beyond, the colours alone.
MAX_ANNOTATED_CLASSES = 20


def class_labels(trainer: pl.Trainer, count: int) -> list[str]:
    """The DataModule's class names (a `classes` list, as litmlp's tables have), else 0..count-1."""
    names = getattr(getattr(trainer, "datamodule", None), "classes", None)
    if isinstance(names, Sequence) and len(names) == count:
        return [str(name) for name in names]
    return [str(index) for index in range(count)]


def counts_table(counts: np.ndarray, names: list[str]) -> str:
    """A markdown table: one row per true class, one column per predicted class."""
    lines = ["| true \\ predicted | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [
        f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |"
        for name, row in zip(names, counts, strict=True)
    ]
    return "\n".join(lines)


class ConfusionMatrixFigure:
    """One matplotlib figure for the run: axes, class names and colour scale are drawn once; each epoch
    draws the cells over that background (matplotlib) and their counts and shares (Pillow, in the figure's
    font: matplotlib took ~0.8 ms a cell to lay a text out and draw it here, Pillow ~0.2 ms)."""

    def __init__(self, names: list[str]) -> None:
        from matplotlib import font_manager
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from PIL import ImageFont

        count = len(names)
        side = min(2.0 + 0.5 * count, 12.0)
        self.figure: Figure = Figure(figsize=(side + 1.2, side), dpi=80)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot()
        # `animated`: left out of the full draw, drawn per epoch over the saved background.
        self.cells = self.axes.imshow(
            np.zeros((count, count)), cmap="Blues", vmin=0.0, vmax=1.0, animated=True
        )
        self.figure.colorbar(
            self.cells, ax=self.axes, fraction=0.046, pad=0.04, label="share of the true class"
        )
        self.axes.set_xticks(range(count), labels=names, rotation=45, ha="right")
        self.axes.set_yticks(range(count), labels=names)
        self.axes.set_xlabel("predicted")
        self.axes.set_ylabel("true")
        self.figure.tight_layout()
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.annotated = count <= MAX_ANNOTATED_CLASSES
        # 8 points in the figure's own font, at its resolution; cell centres in image pixels (top left 0, 0).
        font = font_manager.findfont(font_manager.FontProperties())
        self.font = ImageFont.truetype(font, round(8 * self.figure.dpi / 72))
        height = self.figure.bbox.height
        self.centres = [
            [(x, height - y) for x, y in (self.axes.transData.transform((j, i)) for j in range(count))]
            for i in range(count)
        ]

    @staticmethod
    def labels(counts: np.ndarray) -> list[list[str]]:
        """Each cell's text: its count and its share of the true class."""
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        return [
            [f"{int(count)}\n{share:.0%}" for count, share in zip(row, share_row, strict=True)]
            for row, share_row in zip(counts, shares, strict=True)
        ]

    def render(self, counts: np.ndarray) -> np.ndarray:
        """The matrix as an RGB uint8 image (height, width, 3)."""
        from PIL import Image, ImageDraw

        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        self.canvas.restore_region(self.background)
        self.cells.set_data(shares)
        self.axes.draw_artist(self.cells)
        image = Image.fromarray(np.asarray(self.canvas.buffer_rgba())[..., :3])
        if self.annotated:
            draw = ImageDraw.Draw(image)
            for i, row in enumerate(self.labels(counts)):
                for j, text in enumerate(row):
                    colour = "white" if shares[i, j] > 0.5 else "black"
                    draw.multiline_text(
                        self.centres[i][j], text, fill=colour, font=self.font, anchor="mm", align="center"
                    )
        return np.asarray(image)


class ConfusionMatrixImage(pl.Callback):
    """Needs a module that sets `last_val_confusion` in `on_validation_epoch_end` (as `Classifier` does).

    The counts table is written after every validation epoch; the image (matplotlib: ~0.7 s to import here,
    ~3 ms to draw and ~3 ms to encode for 3 classes) every `every_n_epochs` epochs and for the last epoch
    trained."""

    def __init__(self, every_n_epochs: int = 5) -> None:
        at_least(1, every_n_epochs=every_n_epochs)
        self.every_n_epochs = every_n_epochs
        self._figure: ConfusionMatrixFigure | None = None
        self._undrawn: tuple[np.ndarray, list[str], int] | None = None  # the last epoch's, if not drawn

    @rank_zero_only
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        confusion = getattr(pl_module, "last_val_confusion", None)
        if trainer.sanity_checking or confusion is None or not _tensorboards(trainer):
            return
        counts = confusion.detach().cpu().numpy() if isinstance(confusion, torch.Tensor) else confusion
        names, step = class_labels(trainer, len(counts)), val_step(trainer)
        for logger in _tensorboards(trainer):
            logger.experiment.add_text(f"{TAG}_counts", counts_table(counts, names), global_step=step)
        self._undrawn = (counts, names, step)
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._draw(trainer)

    @rank_zero_only
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._draw(trainer)  # the last epoch's matrix, whichever epoch training ended at

    def _draw(self, trainer: pl.Trainer) -> None:
        if self._undrawn is None:
            return
        counts, names, step = self._undrawn
        self._undrawn = None
        if self._figure is None:
            self._figure = ConfusionMatrixFigure(names)
        image = self._figure.render(counts)
        for logger in _tensorboards(trainer):
            logger.experiment.add_image(TAG, image, global_step=step, dataformats="HWC")


def _tensorboards(trainer: pl.Trainer) -> list[TensorBoardLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


def val_step(trainer: pl.Trainer) -> int:
    """The step Lightning writes the val scalars at: its count of stepped batches, one less than
    `global_step` at an epoch's end (private; `global_step` where it is missing)."""
    epoch_loop: Any = trainer.fit_loop.epoch_loop
    return int(getattr(epoch_loop, "_batches_that_stepped", trainer.global_step))
