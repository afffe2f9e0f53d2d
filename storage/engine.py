"""Engine creation: URL checks and the SQLite connection settings, kept in one place."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from storage.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "nover_write"
"""Execution option marking a write transaction (SQLite takes the write lock when it begins)."""


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StorageError(
            f"database URL {url!r} is not usable ({exc}); use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user:password@host/dbname"
        ) from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let the "begin" listener below issue BEGIN itself; pysqlite's own implicit BEGIN cannot
        # take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer and the writer never blocks readers.
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL keeps every committed transaction through an application crash
        # (kill -9); only a power loss may drop the last few, and never corrupts the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A deferred transaction that reads and then writes fails at once with "database is locked"
        # when another process wrote in between (WAL cannot upgrade a stale snapshot, and the busy
        # timeout does not apply). Write transactions therefore take the write lock when they begin,
        # waiting up to the busy timeout; read transactions stay deferred and never wait.
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
