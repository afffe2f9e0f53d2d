"""SQLite's journal mode follows the file system: WAL on local disks, the rollback journal on network mounts
(a Space's /data may be one). SQLite-only by nature."""

from sqlalchemy import text

from storage import Store
from storage.engine import sqlite_journal_mode
from tests.helpers import step_rows

MOUNTS = """\
overlay / overlay rw,relatime 0 0
/dev/vda1 /home ext4 rw,relatime 0 0
10.0.0.5:/export /data nfs4 rw,relatime,vers=4.1 0 0
/dev/vdb /data/local\\040disk ext4 rw 0 0
sshfs#me@host: /mnt/remote fuse.sshfs rw 0 0
"""


def test_the_journal_mode_follows_the_file_system_of_the_database(monkeypatch):
    monkeypatch.delenv("NOVER_UI_SQLITE_JOURNAL", raising=False)
    assert sqlite_journal_mode("/home/me/nover_ui.db", MOUNTS) == "WAL"
    assert sqlite_journal_mode("/data/nover_ui/nover_ui.db", MOUNTS) == "DELETE"
    assert sqlite_journal_mode("/data/local disk/nover_ui.db", MOUNTS) == "WAL"  # the longest mount point wins
    assert sqlite_journal_mode("/mnt/remote/x.db", MOUNTS) == "DELETE"
    assert sqlite_journal_mode("/tmp/x.db", MOUNTS) == "WAL"
    assert sqlite_journal_mode(None, MOUNTS) == "WAL"
    monkeypatch.setenv("NOVER_UI_SQLITE_JOURNAL", "delete")
    assert sqlite_journal_mode("/home/me/nover_ui.db", MOUNTS) == "DELETE"


def test_a_store_on_the_rollback_journal_reads_and_writes_across_connections(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("NOVER_UI_SQLITE_JOURNAL", "delete")
    writer, reader = Store(sqlite_url), Store(sqlite_url)
    try:
        with writer._engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "delete"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        run = writer.start_run(writer.create_run("on a network mount", {}).id, "w")
        for step in (1, 2, 3):
            writer.log_step(run.id, step, {"reward": step / 10}, step_rows(1, 4))
            assert reader.latest_step(run.id) == step
        assert len(reader.get_rollouts(run.id)) == 12
        assert not (tmp_path / "nover_ui.db-wal").exists()
    finally:
        writer.close()
        reader.close()
