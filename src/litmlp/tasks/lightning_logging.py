"""Lightning's console output, made to fit Hydra's logging (called by the tasks that run a Trainer)."""

from __future__ import annotations

import logging
import warnings


class _DropAdvertisingTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_lightning() -> None:
    # `import lightning` attaches a console handler of its own to the "lightning" logger, which also
    # propagates to the root logger that Hydra set up: every Lightning message would print twice.
    logging.getLogger("lightning").handlers.clear()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdvertisingTips())
    # Lightning 2.6 calls a torch pytree API that torch >= 2.10 deprecates; nothing for a user to act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
