"""The audit writer of a multi-process server: appends sent over pipes, from several serving processes
into one log, refusals handed back to their caller, and no call left hanging when the writer ends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dosefinding_server.audit import AuditLogClosed, verify_log
from dosefinding_server.audit.group_commit import AUDIT_SEQUENCE, Insert
from dosefinding_server.audit.writer import RemoteAuditLog, pipes, relay
from dosefinding_server.storage import IntegrityError, Migration, StorageError

from .support import KEY, entry, new_log

ROWS = (Migration(1, "CREATE TABLE rows (caller TEXT UNIQUE, audit_sequence INTEGER NOT NULL);"),)


def row(name: str) -> tuple[Insert]:
    return (Insert("INSERT INTO rows (caller, audit_sequence) VALUES (?, ?)", (name, AUDIT_SEQUENCE)),)


def test_appends_of_every_serving_process_land_in_one_log_with_their_rows(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db", checkpoint_every=7)
    database.migrate("test", ROWS)
    writer_ends, serving_ends = pipes(processes=2, per_process=3)
    relay(log, writer_ends)
    remotes = [RemoteAuditLog(database, KEY.public_key(), ends) for ends in serving_ends]
    receipts: dict[str, int] = {}
    guard = threading.Lock()

    def serve(remote: RemoteAuditLog, name: str) -> None:
        for i in range(20):
            receipt = remote.append_durable(entry(i), row(f"{name}-{i}"))
            assert remote.record(receipt.seq).leaf_hash == receipt.leaf_hash
            with guard:
                receipts[f"{name}-{i}"] = receipt.seq

    threads = [threading.Thread(target=serve, args=(remote, f"p{p}t{t}"))
               for p, remote in enumerate(remotes) for t in range(4)]  # more threads than pipes: they wait their turn
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(receipts.values()) == list(range(2, 2 + 160))
    with database.reader() as reader:
        assert dict(reader.execute("SELECT caller, audit_sequence FROM rows").fetchall()) == receipts
    for remote in remotes:
        remote.close()
    log.close()
    report = verify_log(database, public_keys=[KEY.public_key()])
    assert report.ok and report.records == 161
    database.close()


def test_a_refusal_goes_back_to_its_caller_and_the_pipe_stays_usable(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    database.migrate("test", ROWS)
    writer_ends, serving_ends = pipes(processes=1, per_process=1)
    relay(log, writer_ends)
    remote = RemoteAuditLog(database, KEY.public_key(), serving_ends[0])
    assert remote.append_durable(entry(0), row("first")).seq == 2
    with pytest.raises(IntegrityError):
        remote.append_durable(entry(1), row("second") + row("first"))
    assert remote.append_durable(entry(2), row("third")).seq == 3
    with database.reader() as reader:
        assert reader.execute("SELECT caller FROM rows ORDER BY audit_sequence").fetchall() == [("first",), ("third",)]
    remote.close()
    log.close()
    database.close()


def test_a_writer_that_ends_fails_the_calls_instead_of_leaving_them_waiting(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    writer_ends, serving_ends = pipes(processes=1, per_process=2)
    for connection in writer_ends:
        connection.close()
    remote = RemoteAuditLog(database, KEY.public_key(), serving_ends[0])
    with pytest.raises(StorageError, match="audit writer process is gone"):
        remote.append_durable(entry(0))
    log.close()
    database.close()


def test_closing_stops_the_writer_once_and_refuses_further_appends(tmp_path: Path) -> None:
    database, log = new_log(tmp_path / "audit.db")
    writer_ends, serving_ends = pipes(processes=1, per_process=1)
    relay(log, writer_ends)
    stops: list[bool] = []
    remote = RemoteAuditLog(database, KEY.public_key(), serving_ends[0], stop_writer=lambda: stops.append(True))
    assert remote.public_key == KEY.public_key() and remote.append_durable(entry(0)).seq == 2
    remote.close()
    remote.close()
    assert stops == [True]
    with pytest.raises(AuditLogClosed):
        remote.append_durable(entry(1))
    log.close()
    database.close()
