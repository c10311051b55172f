"""The commands behind the CLI. Each gets a composed config, builds, runs and writes its results."""

import logging
import warnings

import lightning  # noqa: F401

# `import lightning` attaches a console handler of its own to the "lightning" logger, which also
# propagates to the root logger that Hydra set up: every Lightning message would print twice.
logging.getLogger("lightning").handlers.clear()
# Lightning 2.6 calls a torch pytree API that torch >= 2.10 deprecates; nothing for a user to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


class _DropAdvertisingTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdvertisingTips())
