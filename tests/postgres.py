"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary directory, a free local port."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.helpers import free_port

INSTALL_HINT = "apt-get install -y postgresql"


def find_bin_dir() -> Path | None:
    """The newest installed server's bin directory (/usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One server for the whole test session; each test gets a database of its own from `new_database`."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="nover-pg-"))
        self.port = free_port()
        self._names = itertools.count()
        self._spare: list[str] = []
        # PostgreSQL refuses to run as root; CI runs as root, so the server runs as the `postgres` user the
        # Debian package creates, and owns its directory.
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.root, "postgres")

    def start(self) -> None:
        data, log = self.root / "data", self.root / "server.log"
        # Durability is not under test: without fsync, the schema every test migrates costs little.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            self._run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
            self._run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.root / "data", "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The name of an empty database: one a finished test handed back, else a new one."""
        if self._spare:
            return self._spare.pop()
        name = f"test_{next(self._names)}"
        self._execute("postgres", f'CREATE DATABASE "{name}"')
        return name

    def release_database(self, name: str) -> None:
        """Empty a test's database for the next test: a tenth of the time CREATE DATABASE takes (about 0.5 s)."""
        # End the connections the test left open (a Store it did not close, a worker process's), so that no
        # lock they hold stops the drop; everything the tests create lives in the public schema.
        self._execute(
            name,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
        )
        self._spare.append(name)

    def _execute(self, database: str, *statements: str) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as connection:
            for sql in statements:
                connection.execute(sql)

    def _run(self, program: str, *args: object) -> None:
        command = [*self._as_user, str(self.bin_dir / program), *map(str, args)]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True)
        if done.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}"
                f"{log.read_text() if log.exists() else ''}"
            )
