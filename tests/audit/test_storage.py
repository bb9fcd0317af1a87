"""The SQLite store: pragmas, transactions and savepoints, migrations, snapshots, online backup."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dosefinding_server.storage import IntegrityError, Migration, SchemaError, StorageError
from dosefinding_server.storage.sqlite import Database

NOTES = (Migration(1, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;", "notes"),)


@pytest.fixture
def database(tmp_path: Path):
    with Database(tmp_path / "store.db") as opened:
        opened.migrate("notes", NOTES)
        yield opened


def count(database: Database) -> int:
    with database.reader() as reader:
        return reader.execute("SELECT COUNT(*) FROM notes").fetchone()[0]


def test_pragmas(database: Database) -> None:
    with database.transaction() as tx:
        assert tx.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert tx.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert tx.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert tx.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_commit_rollback_and_rollback_hooks(database: Database) -> None:
    undone: list[str] = []
    with database.transaction() as tx:
        tx.execute("INSERT INTO notes (body) VALUES ('kept')")
    with pytest.raises(RuntimeError):
        with database.transaction() as tx:
            tx.execute("INSERT INTO notes (body) VALUES ('lost')")
            tx.on_rollback(lambda: undone.append("outer"))
            raise RuntimeError("caller failed")
    assert count(database) == 1 and undone == ["outer"]


def test_savepoint_undoes_only_its_own_writes_and_hooks(database: Database) -> None:
    undone: list[str] = []
    with database.transaction() as tx:
        tx.execute("INSERT INTO notes (body) VALUES ('first')")
        tx.on_rollback(lambda: undone.append("first"))
        with pytest.raises(IntegrityError):
            with tx.savepoint():
                tx.execute("INSERT INTO notes (body) VALUES ('second')")
                tx.on_rollback(lambda: undone.append("second"))
                tx.execute("INSERT INTO notes (id, body) VALUES (1, 'duplicate key')")
    assert count(database) == 1 and undone == ["second"]


def test_nested_transaction_on_one_thread_is_refused(database: Database) -> None:
    with database.transaction():
        with pytest.raises(StorageError, match="savepoint"):
            with database.transaction():
                pass


def test_reader_keeps_its_snapshot_while_a_writer_commits(database: Database) -> None:
    with database.reader() as reader:
        assert reader.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
        writer = threading.Thread(target=_insert, args=(database,))
        writer.start()
        writer.join()
        assert reader.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
        with pytest.raises(StorageError):
            reader.execute("INSERT INTO notes (body) VALUES ('readers cannot write')")
    assert count(database) == 1


def _insert(database: Database) -> None:
    with database.transaction() as tx:
        tx.execute("INSERT INTO notes (body) VALUES ('from another thread')")


def test_query_reads_committed_rows_and_holds_no_snapshot_after(database: Database) -> None:
    with database.transaction() as tx:
        tx.executemany("INSERT INTO notes (body) VALUES (?)", [("a",), ("b",), ("c",)])
    assert database.query("SELECT body FROM notes WHERE id > ? ORDER BY id", (1,)) == [("b",), ("c",)]
    with database.transaction() as tx:
        tx.execute("INSERT INTO notes (body) VALUES ('d')")
    assert database.query("SELECT COUNT(*) FROM notes") == [(4,)]  # a pooled connection sees the new commit
    with pytest.raises(StorageError):
        database.query("INSERT INTO notes (body) VALUES ('refused')")
    assert count(database) == 4


def test_migrations_apply_once_and_keep_history(database: Database) -> None:
    more = NOTES + (Migration(2, """
        ALTER TABLE notes ADD COLUMN tag TEXT; -- a comment; not a statement
        CREATE TRIGGER notes_tagged AFTER INSERT ON notes BEGIN SELECT 'a;b'; SELECT 1; END;
    """, "tags"),)
    assert database.migrate("notes", more) == 2
    assert database.migrate("notes", more) == 2
    assert database.schema_version("notes") == 2 and database.schema_version("unknown") == 0
    with database.reader() as reader:
        history = reader.execute("SELECT version, description FROM schema_version WHERE component = 'notes' "
                                 "ORDER BY version").fetchall()
    assert history == [(1, "notes"), (2, "tags")]
    with pytest.raises(SchemaError, match="newer"):
        database.migrate("notes", NOTES)
    with pytest.raises(SchemaError, match="order"):
        database.migrate("other", (Migration(2, ""),))
    with pytest.raises(IntegrityError, match="append-only"):
        with database.transaction() as tx:
            tx.execute("DELETE FROM schema_version")


def test_failed_migration_leaves_nothing(database: Database) -> None:
    with pytest.raises(StorageError):
        database.migrate("broken", (Migration(1, "CREATE TABLE half (x); CREATE TABLE half (x);"),))
    with pytest.raises(SchemaError, match="incomplete"):
        database.migrate("broken", (Migration(1, "CREATE TABLE half (x); CREATE TABLE unfinished (x)"),))
    assert database.schema_version("broken") == 0
    database.migrate("broken", (Migration(1, "CREATE TABLE half (x);"),))


def test_backup_is_a_consistent_copy_and_read_only_open(database: Database, tmp_path: Path) -> None:
    _insert(database)
    copy = tmp_path / "copy.db"
    database.backup(copy)
    _insert(database)
    assert not (tmp_path / "copy.db.partial").exists()
    with Database(copy, read_only=True) as restored:
        assert count(restored) == 1
        with pytest.raises(StorageError, match="read-only"):
            with restored.transaction():
                pass
    with pytest.raises(StorageError, match="no database file"):
        Database(tmp_path / "absent.db", read_only=True)


def test_closed_database_refuses_work(tmp_path: Path) -> None:
    database = Database(tmp_path / "closed.db")
    database.close()
    database.close()
    with pytest.raises(StorageError, match="closed"):
        with database.transaction():
            pass
    with pytest.raises(StorageError, match="closed"):
        with database.reader():
            pass
