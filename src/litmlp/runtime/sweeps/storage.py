"""Where an Optuna study lives, named by one string (`hydra.sweeper.storage`): a database URL (sqlite on one
machine; PostgreSQL or MySQL, which several machines' searches share) or `journal:PATH`, Optuna's journal
file, for a cluster with a shared filesystem and no database server. The sweeper and every trial's run open
it from the same string."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from litmlp.errors import LitmlpError

if TYPE_CHECKING:
    import optuna

JOURNAL = "journal:"


def absolute(url: str) -> str:
    """`url` with a relative journal or sqlite file made absolute: every run opens the same file."""
    if url.startswith(JOURNAL):
        return JOURNAL + str(Path(url.removeprefix(JOURNAL)).expanduser().resolve())
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url.removeprefix("sqlite:///")
        return f"sqlite:///{Path(path).expanduser().resolve()}" if path and path != ":memory:" else url
    return url


def _database(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's storage on the database at `url`. Searches that start together on a new database race to
    create its tables, and the losers' CREATE fails (PostgreSQL: a duplicate key in pg_type): they try
    again and find the tables made."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage `url` names; a URL that can't be used is one line naming it (never its password)."""
    import optuna
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix(JOURNAL))
        if not path.parent.is_dir():
            raise LitmlpError(f"hydra.sweeper.storage={url}: directory {path.parent} not found")
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception as error:  # sqlalchemy raises ArgumentError or ValueError
        raise LitmlpError(
            f"hydra.sweeper.storage={url}: not a database URL (sqlite:///FILE, postgresql://HOST/DB, "
            f"mysql://HOST/DB) or journal:FILE ({error})"
        ) from None
    try:
        return _database(url)
    except ImportError as error:  # optuna wraps the driver's ModuleNotFoundError
        missing = getattr(error.__cause__, "name", None) or "?"
        raise LitmlpError(
            f"hydra.sweeper.storage={shown}: its database driver is not installed (no module {missing}); "
            "for PostgreSQL: pip install 'litmlp[postgres]'"
        ) from None
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise LitmlpError(f"hydra.sweeper.storage={shown}: {reason}") from None
