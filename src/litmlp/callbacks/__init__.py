"""Lightning callbacks of the core: what a run records and shows. The runtime's live in `litmlp.runtime`."""

from litmlp.callbacks.confusion_matrix import ConfusionMatrixImage
from litmlp.callbacks.model_summary import NetSummary
from litmlp.callbacks.progress_bar import ThrottledRichProgressBar
from litmlp.callbacks.run_record import RunRecord
from litmlp.callbacks.step_loss import StepLoss

__all__ = ["ConfusionMatrixImage", "NetSummary", "RunRecord", "StepLoss", "ThrottledRichProgressBar"]
