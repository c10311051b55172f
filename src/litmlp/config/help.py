"""`litmlp <command> --help`: the config groups that command's user chooses from, not Hydra's internals.

Hydra's own help lists every group on its search path: the schemas' (`schema/paths`) and, for `eval`, the
groups only `train` composes. `${command_groups:<command>}` in `conf/hydra/default.yaml`'s help template
lists the groups in the command's defaults (and their nested groups: `model/optimizer`), plus the
launchers and sweepers of a sweep for the commands that run one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Commands whose runs a sweep (-m) launches.
SWEEPING = ("train", "eval")
HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper")


def defaults_groups(primary: Path) -> list[str]:
    """The groups a primary config's defaults list names (`data: synthetic`, `experiment: null`)."""
    content = yaml.safe_load(primary.read_text()) or {}
    groups = []
    for entry in content.get("defaults", []):
        if isinstance(entry, dict):
            (key,) = entry
            name = str(key).removeprefix("override ").lstrip("/")
            if name != "hydra" and not name.startswith("hydra/"):
                groups.append(name)
    return groups


def command_groups(command: str) -> str:
    """One line per group: `group: option, option`, as Hydra writes them."""
    from hydra.core.global_hydra import GlobalHydra

    from litmlp.config import config_dir

    loader = GlobalHydra.instance().config_loader()

    def with_nested(group: str) -> list[str]:
        nested = sorted(loader.list_groups(group))
        return [group, *(name for child in nested for name in with_nested(f"{group}/{child}"))]

    groups = [
        name for group in defaults_groups(config_dir() / f"{command}.yaml") for name in with_nested(group)
    ]
    if command in SWEEPING:
        groups += HYDRA_GROUPS
    lines = []
    for group in sorted(groups):
        options = sorted(loader.get_group_options(group))
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)
