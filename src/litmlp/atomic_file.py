"""Files that appear complete or not at all: written under a temporary name, renamed into place."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write; renames it onto `path` when the block succeeds and
    removes it when the block raises. The name keeps `path`'s suffix (some writers go by it) and holds the
    process id, so writers in several processes (a parallel sweep) never share a temporary file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
