"""Which `_target_`s a config read back from a checkpoint may build.

A config composed from `conf/` and the command line is the user's own. A config read back from a
checkpoint or run directory (eval, predict, export, resume) may come from anyone: instantiating it would
call whatever its `_target_`s name (`os.system`, say). Those configs are checked first against an
allow-list of prefixes, extended per command with `trusted_targets=[my_project.]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from litmlp.errors import LitmlpError

TRUSTED_PREFIXES = (
    "litmlp.",
    "torch.optim.",
    "torch.nn.",
    "lightning.pytorch.",
    "pytorch_lightning.",
    "torchmetrics.",
)


def _targets(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":
                yield path or "<root>", str(value)
            else:
                yield from _targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _targets(value, f"{path}[{index}]")


def check_targets(config: DictConfig | dict[str, Any], source: str, trusted: Sequence[str] = ()) -> None:
    """Refuse, before anything is built, a config that names a target outside the allow-list."""
    tree = OmegaConf.to_container(config) if isinstance(config, (DictConfig, ListConfig)) else config
    prefixes = (*TRUSTED_PREFIXES, *trusted)
    for key, target in _targets(tree, ""):
        if not target.startswith(prefixes):
            raise LitmlpError(
                f"{source}: refusing to build '{target}' (at '{key}'): not an allowed target; "
                f"if you trust this file, add trusted_targets=[{target.rsplit('.', 1)[0]}.]"
            )
