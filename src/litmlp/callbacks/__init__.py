"""Lightning callbacks for concerns that cut across the step logic."""

from litmlp.callbacks.confusion_matrix import ConfusionMatrixImage
from litmlp.callbacks.progress_bar import ThrottledRichProgressBar
from litmlp.callbacks.resume_checkpoint import ResumeCheckpoint
from litmlp.callbacks.run_config import RunConfigInCheckpoint

__all__ = ["ConfusionMatrixImage", "ResumeCheckpoint", "RunConfigInCheckpoint", "ThrottledRichProgressBar"]
