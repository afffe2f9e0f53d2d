"""Engine creation: URL checks and the SQLite connection settings, kept in one place."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import ConnectionPoolEntry

from storage.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "nover_write"
"""Execution option marking a write transaction (SQLite takes the write lock when it begins)."""
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "fuse")
JOURNAL_ENV = "NOVER_UI_SQLITE_JOURNAL"
"""wal or delete: overrides the journal mode chosen from the file system (see sqlite_journal_mode)."""


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
        _configure_sqlite(engine, sqlite_journal_mode(parsed.database), parsed.database)
    return engine


def sqlite_journal_mode(database: str | None, mounts: str | None = None) -> str:
    """WAL on a local disk; the rollback journal (DELETE) on a network or FUSE file system.

    WAL keeps its index in a memory-mapped -shm file that every process must share, which network file systems
    do not provide: two processes (the app and a worker) could each see their own copy and corrupt the file.
    A Space's persistent storage (/data) is such a mount on some hardware; the rollback journal relies only on
    the file locks SQLite supports there, at the price of readers and the writer waiting for each other (the
    busy timeout covers it). NOVER_UI_SQLITE_JOURNAL=wal|delete overrides the choice.
    """
    if (forced := os.environ.get(JOURNAL_ENV, "").strip().upper()) in ("WAL", "DELETE"):
        return forced
    if not database or database == ":memory:":
        return "WAL"
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return "WAL"  # not Linux: assume a local disk
    return "DELETE" if _filesystem(Path(database).expanduser().resolve(), mounts) in NETWORK_FILESYSTEMS else "WAL"


def _filesystem(path: Path, mounts: str) -> str:
    """The type of the file system holding `path`: the longest mount point above it in /proc/self/mounts."""
    best, kind = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        if path.is_relative_to(mount_point) and len(mount_point) > len(best):
            best, kind = mount_point, fields[2]
    return kind.split(".")[0]  # "fuse.sshfs" -> "fuse"


def check_writable(database: str | None) -> None:
    """StorageError unless the SQLite file and its WAL files are writable.

    In WAL mode SQLite memory-maps the -shm file and writes to it on every read and write; when the file stops
    being writable under a live mapping (`chattr +i`, a remount), the next access kills the whole process with
    SIGBUS, which no Python code can catch. Asking the file system first (three access() calls, microseconds)
    turns that crash into an error that says what is wrong.
    """
    if not database or database == ":memory:":
        return
    # access(2), never open(): closing any descriptor of the file would drop the POSIX locks SQLite holds on it.
    for path in (database, f"{database}-wal", f"{database}-shm"):
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise StorageError(
                f"cannot use the database {database}: {path} is not writable; make it writable "
                f"again (a read-only mount, chattr +i, or file permissions)"
            )


def _configure_sqlite(engine: Engine, journal_mode: str, database: str | None) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        check_writable(database)
        # Let the "begin" listener below issue BEGIN itself; pysqlite's own implicit BEGIN cannot
        # take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer and the writer never blocks readers (local disks only).
        cursor.execute(f"PRAGMA journal_mode={journal_mode}")
        # WAL with synchronous=NORMAL keeps every committed transaction through an application crash
        # (kill -9); only a power loss may drop the last few, and never corrupts the file. The rollback
        # journal needs FULL for the same guarantee.
        cursor.execute(f"PRAGMA synchronous={'NORMAL' if journal_mode == 'WAL' else 'FULL'}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is locked"
        # when another process wrote in between (WAL cannot upgrade a stale snapshot, and the busy
        # timeout does not apply). Write transactions therefore take the write lock when they begin,
        # waiting up to the busy timeout; read transactions stay deferred and never wait.
        if journal_mode == "WAL":
            check_writable(database)
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
