"""Hydra and OmegaConf errors as one line that names the key, value or option at fault."""

from __future__ import annotations

from hydra.errors import InstantiationException, MissingConfigException, OverrideParseException
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from litmlp.errors import BadValueError, LitmlpError


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


def _omegaconf_cause(error: BaseException) -> OmegaConfBaseException | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OmegaConfBaseException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def describe_yaml_error(error: BaseException) -> str | None:
    """'FILE, line N: not valid YAML (...)' when a config file did not parse."""
    import yaml

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, yaml.MarkedYAMLError) and seen.problem_mark is not None:
            mark = seen.problem_mark
            return f"{mark.name}, line {mark.line + 1}: not valid YAML ({seen.problem})"
        seen = seen.__cause__ or seen.__context__
    return None


def describe_config_error(error: BaseException) -> str:
    broken_yaml = describe_yaml_error(error)
    if broken_yaml is not None:
        return broken_yaml
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        if group and error.options:
            available = ", ".join(error.options)
            return f"unknown option '{option}' for config group '{group}' (available: {available})"
        return f"config not found: '{error.missing_cfg_file}'"
    if isinstance(error, OverrideParseException):
        return f"cannot parse override '{error.override}': {_first_line(error.message)}"
    if isinstance(error, InstantiationException):
        # A constructor refused its arguments, or `_target_` does not exist. Hydra's message ends in
        # "set env var HYDRA_FULL_ERROR=1 ..."; our debug switch is LITMLP_DEBUG.
        message = _first_line(str(error)).split(", set env var HYDRA_FULL_ERROR")[0].rstrip(":")
        cause = error.__cause__
        detail = (
            f": {_first_line(str(cause))}" if cause is not None and not isinstance(cause, ImportError) else ""
        )
        where = next(
            (
                line.split(":", 1)[1].strip()
                for line in str(error).splitlines()
                if line.startswith("full_key:")
            ),
            "",
        )
        if isinstance(cause, BadValueError):  # a constructor named its argument: name it by its config key
            key = f"{where}.{cause.argument}" if where else cause.argument
            return f"{key}={cause.value}: {cause.expected}"
        if isinstance(cause, LitmlpError):  # its message names what is wrong
            return str(cause)
        return f"{message}{detail}" + (f" (at '{where}')" if where else "")
    cause = _omegaconf_cause(error)
    if cause is not None:
        key = cause.full_key or "?"
        if isinstance(cause, MissingMandatoryValue):
            return f"missing required value '{key}' (set it on the command line: {key}=...)"
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
            return f"unknown config key '{key}' (check the spelling; add a new key with '+{key}=...')"
        if isinstance(cause, ValidationError):
            return f"invalid value for '{key}': {_first_line(cause.msg or str(cause))}"
        return f"config error at '{key}': {_first_line(cause.msg or str(cause))}"
    return _first_line(str(error))
