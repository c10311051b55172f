"""What a config read back from a checkpoint may build, and reading one (eval, predict, export, resume).

A config composed from `conf/` and the command line is the user's own. A config stored in a checkpoint
(eval, predict, export, resume, `train ckpt_path=`) may come from anyone: building it calls whatever its
`_target_`s name. So a stored config is checked before anything is built:

- litmlp stores its configs resolved, so an interpolation (`${...}`) in one is refused: resolving it could
  build a node the check never saw (`${oc.create:...}`) or call a resolver.
- Each `_target_` is located (its module imported, nothing called) and the *object* is judged, not the
  spelling: `torch.nn.modules.module.torch.load` starts with an allowed prefix but is
  `torch.serialization.load`. Allowed: classes defined in `ALLOWED_MODULES`, functions in
  `ALLOWED_FUNCTIONS`, and what `trusted_targets=[...]` on the command line adds.
- Objects that load or run code or touch files (`NEVER_ALLOWED`) are refused even under a trusted prefix;
  only their exact name in `trusted_targets` allows them.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litmlp.checkpoint import CONFIG_KEY, load_checkpoint
from litmlp.errors import LitmlpError

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Classes defined in these modules (or below them) may be built from a stored config.
ALLOWED_MODULES = (
    "litmlp",
    "torch.nn.modules",
    "torch.optim",
    "lightning.fabric.plugins.environments",
    "lightning.pytorch.accelerators",
    "lightning.pytorch.callbacks",
    "lightning.pytorch.loggers",
    "lightning.pytorch.plugins",
    "lightning.pytorch.profilers",
    "lightning.pytorch.strategies",
    "lightning.pytorch.trainer",
    "pytorch_lightning.callbacks",
    "pytorch_lightning.loggers",
    "pytorch_lightning.trainer",
    # Metrics computed from tensors only (not the ones that load pretrained networks).
    "torchmetrics.aggregation",
    "torchmetrics.classification",
    "torchmetrics.collections",
    "torchmetrics.regression",
    "torchmetrics.wrappers",
)
# Functions are callables with no class to vouch for them; none of litmlp's configs needs one.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset()
# Modules whose classes and functions load or run code, start processes or touch files.
NEVER_ALLOWED = (
    "builtins",
    "code",
    "codeop",
    "ctypes",
    "dill",
    "hydra",
    "importlib",
    "io",
    "_io",
    "joblib",
    "lightning.fabric.utilities.cloud_io",
    "lightning.pytorch.cli",
    "lightning.pytorch.core.saving",
    "marshal",
    "numpy.lib",
    "omegaconf",
    "os",
    "nt",
    "pickle",
    "_pickle",
    "posix",
    "pty",
    "pytorch_lightning.cli",
    "runpy",
    "shutil",
    "socket",
    "subprocess",
    "sys",
    "tempfile",
    "torch.hub",
    "torch.jit",
    "torch.package",
    "torch.serialization",
    "torch.utils.cpp_extension",
)
# Function names that load or run code in any module (`numpy.load`, `yaml.load`, `dill.loads`, ...).
NEVER_ALLOWED_FUNCTION_NAMES = frozenset({"load", "loads", "eval", "exec", "compile", "system", "__import__"})
NEVER_REASON = "it loads or runs code or touches files"
HYDRA_OVERRIDE_VARIABLE = "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE"


@dataclass(frozen=True)
class Target:
    """One `_target_` of a stored config and what it is."""

    key: str  # where it is in the config, e.g. `model.optimizer`
    spelled: str  # as written
    resolved: str | None  # `module.qualname` of the object it names; None when it was not located
    refusal: str | None  # why it may not be built; None when it may


def _under(module: str, prefixes: Sequence[str]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(key path, key, value) for every entry of a tree of dicts and lists."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        child = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
        yield child, key, value
        yield from _walk(value, child)


def refuse_interpolations(tree: Any, source: str) -> None:
    """A stored config is written resolved: `${...}` left in it was put there by hand."""
    for path, key, value in _walk(tree, ""):
        for text in (key, value):
            if isinstance(text, str) and "${" in text:
                raise LitmlpError(
                    f"{source}: refusing the stored config: '{path}' holds an interpolation ({text[:80]!r}); "
                    "litmlp stores configs resolved, so this file was edited"
                )


def _trusted_entries(trusted: Sequence[str]) -> tuple[set[str], tuple[str, ...]]:
    """Exact names, and module prefixes (`my_project.` or `my_project`)."""
    names = {entry.strip() for entry in trusted if entry.strip()}
    prefixes = tuple(name.rstrip(".") for name in names)
    return names, prefixes


def _canonical_module(module: str) -> str:
    return {"posix": "os", "nt": "os", "posixpath": "os.path", "ntpath": "os.path"}.get(module, module)


def _canonical(obj: Any) -> str | None:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    return f"{_canonical_module(module)}.{qualname}"


def judge_target(spelled: Any, key: str, trusted: Sequence[str] = ()) -> Target:
    """Locate what `spelled` names (importing modules, calling nothing) and say whether it may be built."""
    if not isinstance(spelled, str) or not spelled or not all(spelled.split(".")):
        return Target(key, str(spelled), None, "not a dotted name")
    names, prefixes = _trusted_entries(trusted)
    root = spelled.split(".", 1)[0]
    importable = {prefix.split(".", 1)[0] for prefix in (*ALLOWED_MODULES, *prefixes)}
    if root not in importable and root not in sys.modules:
        # Importing an unknown package runs its code; one already imported costs nothing more.
        never = _under(spelled, NEVER_ALLOWED) and spelled not in names
        return Target(key, spelled, None, NEVER_REASON if never else "not an allowed target")
    from hydra._internal.utils import _locate

    try:
        obj = _locate(spelled)
    except Exception as error:
        reason = str(error).strip().splitlines()
        return Target(
            key, spelled, None, f"cannot be located ({reason[-1] if reason else type(error).__name__})"
        )
    resolved = _canonical(obj)
    if resolved is None:
        return Target(key, spelled, None, f"it is {_kind(obj)}, not a class or function")
    is_class, is_function = inspect.isclass(obj), inspect.isfunction(obj) or inspect.isbuiltin(obj)
    module = _canonical_module(obj.__module__)
    exact = spelled in names or resolved in names
    if _under(module, NEVER_ALLOWED) or (is_function and obj.__name__ in NEVER_ALLOWED_FUNCTION_NAMES):
        return Target(key, spelled, resolved, None if exact else NEVER_REASON)
    if not (is_class or is_function) or "<" in resolved:
        return Target(key, spelled, resolved, f"it is {_kind(obj)}, not a class or function")
    allowed = (
        exact
        or _under(module, prefixes)
        or (is_class and _under(module, ALLOWED_MODULES))
        or resolved in ALLOWED_FUNCTIONS
    )
    return Target(key, spelled, resolved, None if allowed else "not an allowed target")


def _kind(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "a module"
    if inspect.ismethod(obj) or inspect.ismethoddescriptor(obj):
        return "a method"
    if inspect.isfunction(obj):
        return "a function defined inside another"
    return f"a {type(obj).__name__} object"


def stored_targets(tree: Any, trusted: Sequence[str] = ()) -> list[Target]:
    """Every `_target_` that building `tree` (a plain container) could call, judged."""
    found = [
        (path.rsplit(".", 1)[0] if "." in path else "<root>", value)
        for path, key, value in _walk(tree, "")
        if key == "_target_"
    ]
    return [judge_target(spelled, where, trusted) for where, spelled in found]


def refusal_message(target: Target, source: str) -> str:
    """One line naming the file, the key, the object really named, and what would allow it."""
    reason = target.refusal or ""
    if target.resolved is not None and target.resolved != target.spelled:
        reason = f"it is {target.resolved}, " + (
            f"which {reason[3:]}" if reason.startswith("it ") else reason
        )
    hint = ""
    if target.refusal == "not an allowed target":
        module = (target.resolved or target.spelled).rsplit(".", 1)[0]
        hint = f"; if you trust this file, add trusted_targets=[{module}.]"
    elif target.refusal == NEVER_REASON:
        hint = f"; only naming it exactly on the command line allows it: trusted_targets=[{target.spelled}]"
    return f"{source}: refusing to build '{target.spelled}' at '{target.key}': {reason}{hint}"


def check_stored_config(tree: Any, source: str, trusted: Sequence[str] = ()) -> None:
    """Refuse, before anything is built, a stored config that could run code other than the allowed."""
    refuse_interpolations(tree, source)
    for target in stored_targets(tree, trusted):
        if target.refusal is not None:
            raise LitmlpError(refusal_message(target, source))
    # Hydra's own blocklist stays in force for what litmlp allowed (its override would widen trust
    # through the environment, not the command line).
    os.environ.pop(HYDRA_OVERRIDE_VARIABLE, None)


def load_run_config(path: str | Path, trusted_targets: Sequence[str]) -> DictConfig:
    """The run config stored in the checkpoint at `path` (see `stored_run_config`)."""
    return stored_run_config(load_checkpoint(path), path, trusted_targets)


def stored_run_config(
    checkpoint: dict[str, Any], path: str | Path, trusted_targets: Sequence[str]
) -> DictConfig:
    """The run config stored in `checkpoint` (read from `path`), refused if it holds interpolations or
    targets outside the allow-list. The one place litmlp reads a stored config."""
    from omegaconf import OmegaConf

    stored = checkpoint.get(CONFIG_KEY)
    if not isinstance(stored, dict):
        raise LitmlpError(f"{path} holds no run config ({CONFIG_KEY}): was it written by litmlp train?")
    check_stored_config(stored, str(path), trusted_targets)
    return OmegaConf.create(stored)
