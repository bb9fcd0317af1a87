"""Start-up: the log is verified before it is opened, and the server refuses to start on any doubt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dosefinding_server.audit import LogIntegrityError, open_audit_log, verify_log
from dosefinding_server.storage import StorageError
from dosefinding_server.storage.sqlite import Database

from .support import KEY, OTHER_KEY, entry


def test_first_start_creates_and_later_starts_verify(tmp_path: Path) -> None:
    with Database(tmp_path / "audit.db") as database:
        log = open_audit_log(database, KEY)
        log.append_durable(entry(0))
        log.close()
        trusted = log.latest_checkpoint()
        reopened = open_audit_log(database, KEY, trusted_checkpoint=trusted)
        assert reopened.append_durable(entry(1)).seq == 3
        reopened.close()


def test_refuses_a_store_without_its_log_when_a_checkpoint_says_there_was_one(tmp_path: Path) -> None:
    with Database(tmp_path / "audit.db") as database:
        log = open_audit_log(database, KEY)
        log.close()
        trusted = log.latest_checkpoint()
    with Database(tmp_path / "replaced.db") as empty:
        with pytest.raises(LogIntegrityError, match="holds no audit log"):
            open_audit_log(empty, KEY, trusted_checkpoint=trusted)


def test_refuses_an_older_copy_against_the_last_checkpoint(tmp_path: Path) -> None:
    with Database(tmp_path / "audit.db") as database:
        log = open_audit_log(database, KEY)
        database.backup(tmp_path / "old.db")
        log.append_durable(entry(0))
        log.close()
        trusted = log.latest_checkpoint()
    with Database(tmp_path / "old.db") as old:
        with pytest.raises(LogIntegrityError, match="shrunk"):
            open_audit_log(old, KEY, trusted_checkpoint=trusted)


def test_refuses_an_untrusted_key_and_a_rotated_log_without_its_root_key(tmp_path: Path) -> None:
    with Database(tmp_path / "audit.db") as database:
        open_audit_log(database, KEY).close()
        with pytest.raises(LogIntegrityError, match="not among the trusted"):
            open_audit_log(database, OTHER_KEY)
        log = open_audit_log(database, KEY)
        log.rotate_key(OTHER_KEY)
        log.close()
        with pytest.raises(LogIntegrityError, match="not among the trusted"):
            open_audit_log(database, OTHER_KEY)
        open_audit_log(database, OTHER_KEY, public_keys=[KEY.public_key()]).close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "audit.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError, match="audit.db: file is not a database"):
        Database(garbage)
    report = verify_log(garbage, public_keys=[KEY.public_key()])
    assert not report.ok and "cannot be opened" in str(report)


def test_a_backup_copy_opens_and_verifies(tmp_path: Path) -> None:
    with Database(tmp_path / "audit.db") as database:
        log = open_audit_log(database, KEY)
        log.append_durable(entry(0))
        log.close()
    shutil.copy(tmp_path / "audit.db", tmp_path / "copy.db")
    with Database(tmp_path / "copy.db") as copy:
        open_audit_log(copy, KEY).close()
