"""Config schemas derived from constructor signatures: each default is written once, in the signature.

`conf/data/synthetic.yaml` starts with `- /signature/litmlp/data/SyntheticDataModule@_here_`: Hydra asks
litmlp's config source (`hydra_plugins.litmlp_signatures`) for that node, which is a structured config
made from `SyntheticDataModule.__init__` (and, through `**kwargs`, its base classes): every parameter with
its type and default, so a typo'd key or a value of the wrong type fails at the command line. The yaml
then sets only what it means to choose: for litmlp's classes nothing the signature already says (a test
checks), for another library's class the values litmlp picks (AdamW's lr). A class you add needs no schema
and no registry entry: name it in the same way; a yaml that picks no schema is accepted as untyped.

A parameter without a default is required (`???`), except in a `_partial_` node, where it is the one the
call supplies (an optimizer's `params`): such keys are left out when the node is built.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import importlib
import inspect
import json
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, cast

from omegaconf import MISSING

from litmlp.files import replacing

OWN_PACKAGE = "litmlp."
_SCALARS = (bool, int, float, str)
# An int or a float, each kept as it is written (OmegaConf validates the union).
NUMBER = typing.Union[int, float]  # noqa: UP007 (a runtime type)


def locate_class(dotted: str) -> type | None:
    """The class `package.module.Class` names, importing its module; None if there is none."""
    module_name, _, name = dotted.rpartition(".")
    if not module_name:
        return None
    try:
        found = getattr(importlib.import_module(module_name), name, None)
    except ImportError:
        return None
    return found if inspect.isclass(found) else None


def _config_type(annotation: Any) -> Any:
    """The closest type OmegaConf validates (int, float, bool, str, Optional, list, dict), else Any."""
    if annotation in _SCALARS:
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        # A tensor is never written in a config (`lr: float | Tensor` takes a float here).
        members = [arg for arg in args if arg is not type(None) and getattr(arg, "__name__", "") != "Tensor"]
        kinds = {_config_type(arg) for arg in members}
        if kinds == {int, float}:  # kept apart: Lightning's `limit_train_batches=1` is one batch, 1.0 all
            kinds = {NUMBER}
        if len(kinds) != 1 or Any in kinds:
            return Any
        kind = kinds.pop()
        return typing.Optional[kind] if type(None) in args else kind  # noqa: UP045 (a runtime type)
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        items = {_config_type(arg) for arg in args if arg is not Ellipsis}
        item = items.pop() if len(items) == 1 else Any
        return types.GenericAlias(list, (item,))
    if origin in (dict, collections.abc.Mapping):
        return dict[str, Any]
    return Any


_UNREPRESENTABLE = object()


def _default(value: Any) -> Any:
    """A field default OmegaConf can hold, or _UNREPRESENTABLE (an object: the parameter is left out, so
    the class keeps its own default)."""
    if isinstance(value, (tuple, list)) and all(isinstance(item, _SCALARS) for item in value):
        return list(value)
    if value is None or isinstance(value, _SCALARS):
        return value
    return _UNREPRESENTABLE


def _hints(function: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # annotations that do not evaluate here: validate names, not types
        return {}


def _parameters(cls: type) -> tuple[list[tuple[inspect.Parameter, Any]], bool]:
    """`cls.__init__`'s named parameters, and whether it takes other keywords (`**kwargs`).

    litmlp's own classes pass `**kwargs` on to their base class (`SyntheticDataModule(**loading)`), so
    theirs are followed into the bases; another class's `**kwargs` leave the node open to any key.
    """
    found: dict[str, tuple[inspect.Parameter, Any]] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        hints = _hints(init)
        for parameter in parameters:
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                found.setdefault(parameter.name, (parameter, hints.get(parameter.name, Any)))
        takes_more = any(parameter.kind == parameter.VAR_KEYWORD for parameter in parameters)
        if not takes_more:
            return list(found.values()), False
        if not klass.__module__.startswith(OWN_PACKAGE):
            return list(found.values()), True
    return list(found.values()), True


# A derived schema is kept on disk with the files it was read from: composing a config then imports no
# library (Lightning's signature costs a ~3 s import) until one of those files changes.
CACHE_FILE = "signatures.json"


def _encode(kind: Any) -> str:
    """A config type as text: int, float, bool, str, number, any, optional:T, list:T, dict."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind in _SCALARS:
        return kind.__name__
    if kind == NUMBER:
        return "number"
    if origin is typing.Union:
        members = [arg for arg in args if arg is not type(None)]
        return "optional:" + _encode(NUMBER if set(members) == {int, float} else members[0])
    if origin is list:
        return "list:" + _encode(args[0] if args else Any)
    if origin is dict:
        return "dict"
    return "any"


def _decode(text: str) -> Any:
    kind, _, rest = text.partition(":")
    if kind == "optional":
        return typing.Optional[_decode(rest)]  # noqa: UP045 (a runtime type)
    if kind == "list":
        return types.GenericAlias(list, (_decode(rest),))
    if kind == "dict":
        return dict[str, Any]
    return {"int": int, "float": float, "bool": bool, "str": str, "number": NUMBER}.get(kind, Any)


def _describe(dotted: str) -> dict[str, Any] | None:
    """`dotted`'s constructor parameters as plain data (types as text), imported and read."""
    cls = locate_class(dotted)
    if cls is None:
        return None
    parameters, open_ended = _parameters(cls)
    fields: list[list[Any]] = []
    for parameter, annotation in parameters:
        if parameter.name.startswith("_"):
            continue
        kind = _config_type(annotation)
        if parameter.default is inspect.Parameter.empty:
            fields.append([parameter.name, _encode(kind), "???"])
            continue
        default = _default(parameter.default)
        if default is _UNREPRESENTABLE:
            continue
        if default is None and kind is not Any:
            kind = typing.Optional[kind]  # noqa: UP045
        fields.append([parameter.name, _encode(kind), default])
    sources = {inspect.getsourcefile(klass) for klass in cls.__mro__ if klass.__module__ != "builtins"}
    module = dotted.rpartition(".")[0]
    packages = [module.rsplit(".", depth)[0] for depth in range(module.count(".") + 1)]
    sources |= {getattr(sys.modules.get(package), "__file__", None) for package in packages}
    sources.add(__file__)  # how types are derived here: a change to it derives every schema again
    files = {path: _stamp(path) for path in sorted(filter(None, sources))}
    return {"name": cls.__name__, "fields": fields, "open": open_ended, "files": files}


def _stamp(path: str) -> list[int]:
    status = os.stat(path)
    return [status.st_mtime_ns, status.st_size]


def _cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "litmlp" / CACHE_FILE


def _fresh(entry: Any) -> bool:
    try:
        return (
            isinstance(entry, dict)
            and __file__ in entry["files"]
            and all(_stamp(path) == stamp for path, stamp in entry["files"].items())
        )
    except (OSError, KeyError, TypeError):
        return False


def _cache_key(dotted: str) -> str:
    """The name and where its top-level package lives: two checkouts of a project never share entries."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(dotted.split(".", 1)[0])
    except (ImportError, ValueError):
        spec = None
    return f"{dotted}@{spec.origin if spec is not None else ''}"


@functools.cache
def description(dotted: str) -> dict[str, Any] | None:
    """What `_describe` says of `dotted`, from the cache when none of its files changed since."""
    path = _cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    key = _cache_key(dotted)
    if _fresh(cache.get(key)):
        return cast(dict[str, Any], cache[key])
    found = _describe(dotted)
    if found is not None:
        cache[key] = found
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with replacing(path) as partial:
                partial.write_text(json.dumps(cache, indent=1, sort_keys=True))
        except OSError:
            pass  # no writable cache: derive it again next time
    return found


def schema_of(dotted: str) -> tuple[type, bool] | None:
    """A dataclass of `dotted`'s constructor parameters (types and defaults), and whether the node takes
    other keys too; None if `dotted` is not a class."""
    found = description(dotted)
    if found is None:
        return None
    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, dataclasses.field(default=dotted)),
        ("_partial_", bool, dataclasses.field(default=False)),
    ]
    for name, kind, value in found["fields"]:
        if isinstance(value, list):
            default = dataclasses.field(default_factory=functools.partial(list, value))
        else:
            default = dataclasses.field(default=MISSING if value == "???" else value)
        fields.append((name, _decode(kind), default))
    return dataclasses.make_dataclass(f"{found['name']}Schema", fields), bool(found["open"])
