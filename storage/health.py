"""A read-only look at a database for a scheduler's probe: does it answer, is its schema this code's, is a worker live.

A probe runs every few seconds on every worker's machine, so it opens no Store (that would migrate the database and
keep a pool of connections): one connection, two small reads, closed again. It writes nothing and creates no SQLite
file, and no message it raises holds the database's password.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from storage.engine import make_engine
from storage.errors import StorageError
from storage.lifecycle import utcnow
from storage.migrate import alembic_config
from storage.models import Worker


@dataclass(frozen=True)
class DatabaseHealth:
    url: str
    """The database URL with its password hidden."""
    revision: str
    """The schema revision the database is at (this code's head)."""
    worker_seen_s: float | None
    """Seconds since the worker asked about last showed a sign of life; None when none was asked about."""


def shown_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs.

    >>> shown_url("postgresql+psycopg://nover:s3cret@db.internal:5432/nover")
    'postgresql+psycopg://nover:***@db.internal:5432/nover'
    >>> shown_url("sqlite:////data/nover_ui/nover_ui.db")
    'sqlite:////data/nover_ui/nover_ui.db'
    >>> shown_url("nover:s3cret@db")
    'the database URL (not one SQLAlchemy can read)'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL (not one SQLAlchemy can read)"


def check_database(url: str, worker_id: str | None = None, max_age_s: float = 60.0) -> DatabaseHealth:
    """The database's health; StorageError saying what is wrong and what to do when it is not healthy.

    Healthy: it answers, its schema is at this code's newest revision, and (with `worker_id`) that worker's row was
    refreshed within `max_age_s` seconds (a worker refreshes it while it idles and with each heartbeat of its work).
    """
    shown = shown_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(
            f"{shown}: use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host/dbname"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():  # connecting would create an empty file
            raise StorageError(f"{shown}: no database file at {parsed.database}; check the path (--db or NOVER_UI_DB)")
    try:
        engine = make_engine(url)
    except StorageError:
        raise StorageError(f"{shown}: not a usable database URL, or its driver is not installed") from None
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            _check_revision(shown, revision)
            seen_at = None
            if worker_id is not None:
                seen_at = connection.execute(select(Worker.last_seen_at).where(Worker.id == worker_id)).scalar()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if parsed.password:
            reason = reason.replace(str(parsed.password), "***")
        raise StorageError(f"{shown} does not answer: {reason}") from None
    finally:
        engine.dispose()
    assert revision is not None  # _check_revision refused None
    return DatabaseHealth(shown, revision, None if worker_id is None else _worker_age(worker_id, seen_at, max_age_s))


def _check_revision(shown: str, revision: str | None) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if revision is None:
        raise StorageError(
            f"{shown} has no nover_ui tables yet: the app or a worker creates them when it first opens the database"
        )
    if revision == head:
        return
    try:
        script.get_revision(revision)
    except CommandError:
        raise StorageError(
            f"{shown} is at schema {revision}, which this code does not know (its newest is {head}): a newer nover_ui "
            "migrated it; run that version here too"
        ) from None
    raise StorageError(
        f"{shown} is at schema {revision}, older than this code's {head}: the app or a worker of this version "
        "migrates it when it next opens the database"
    )


def _worker_age(worker_id: str, seen_at: dt.datetime | None, max_age_s: float) -> float:
    if seen_at is None:
        raise StorageError(
            f"no worker {worker_id!r} is recorded: it has not started yet, or it has stopped (a worker removes itself "
            "when it exits)"
        )
    age_s = max(0.0, (utcnow() - seen_at).total_seconds())  # another machine's clock may run a little ahead
    if age_s > max_age_s:
        raise StorageError(
            f"worker {worker_id!r} was last seen {age_s:.0f} s ago (more than the {max_age_s:g} s allowed): it is "
            "stuck, or it died without removing itself"
        )
    return age_s
