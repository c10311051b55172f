"""`litmlp inspect ckpt_path=PATH`: show a checkpoint's stored config and every target it would build.

Nothing is built: the file is read with `weights_only=True`, interpolations are shown as written (never
resolved), and each `_target_` is only located to say what object it names and whether it is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from litmlp.checkpoint import CONFIG_KEY, load_checkpoint
from litmlp.errors import LitmlpError
from litmlp.runtime.trust import refusal_message, refuse_interpolations, stored_targets


def inspect_checkpoint(path: Path, trusted_targets: Sequence[str]) -> tuple[str, bool]:
    """The report to print, and whether every target may be built."""
    import yaml

    checkpoint = load_checkpoint(path)
    stored = checkpoint.get(CONFIG_KEY)
    if not isinstance(stored, dict):
        raise LitmlpError(f"{path} holds no run config ({CONFIG_KEY}): was it written by litmlp train?")
    lines = [f"# Config stored in {path}", yaml.safe_dump(stored, sort_keys=False).rstrip(), ""]
    safe = True
    try:
        refuse_interpolations(stored, str(path))
    except LitmlpError as error:
        safe = False
        lines.append(f"REFUSED: {error}")
    targets = stored_targets(stored, trusted_targets)
    lines.append(f"# Targets it would build ({len(targets)})")
    width = max((len(target.key) for target in targets), default=0)
    for target in targets:
        resolved = target.resolved or "?"
        verdict = "allowed" if target.refusal is None else f"REFUSED ({target.refusal})"
        lines.append(f"{target.key:<{width}}  {target.spelled} -> {resolved}  {verdict}")
        if target.refusal is not None:
            safe = False
    if not safe:
        refused = next((t for t in targets if t.refusal is not None), None)
        lines.append("")
        lines.append(refusal_message(refused, str(path)) if refused else "the stored config is refused")
    return "\n".join(lines), safe
