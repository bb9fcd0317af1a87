"""Shared helpers for the audit tests: entries, a log on a fresh file, and an attacker's raw access."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dosefinding_server.audit import AuditEntry, AuditLog
from dosefinding_server.audit.schema import APPEND_ONLY_TRIGGERS
from dosefinding_server.storage.sqlite import Database

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
START = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def entry(i: int, **overrides: object) -> AuditEntry:
    """A plausible decision entry, different for each ``i``."""
    fields: dict[str, object] = dict(
        principal=f"investigator-{i % 3}@site.example", method="/dosefinding.v1.DecisionService/EvaluateDesign",
        request=f'{{"outcomes":{{"outcome_string":"1NNN 2N{"T" * (i % 3)}"}}}}'.encode(),
        response=f'{{"recommended_dose":{1 + i % 4},"continue":true}}'.encode(),
        engine_version="0.1.0", trial_id=f"TRIAL-{i % 2}", design_sha256=f"{i:064x}", seed=(1 << 63) + i)
    fields.update(overrides)
    return AuditEntry(**fields)  # type: ignore[arg-type]


class StepClock:
    """A clock that advances one second per reading, from :data:`START`."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        return START + timedelta(seconds=self.readings)


def new_log(path: Path, key: Ed25519PrivateKey = KEY, **options: object) -> tuple[Database, AuditLog]:
    database = Database(path)
    return database, AuditLog(database, key, **options)  # type: ignore[arg-type]


@contextmanager
def attacker(path: Path) -> Iterator[sqlite3.Connection]:
    """Raw write access as an attacker with the file has it: triggers dropped, then put back."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN")
    for name in APPEND_ONLY_TRIGGERS:
        connection.execute(f"DROP TRIGGER {name}")
    yield connection
    for statement in APPEND_ONLY_TRIGGERS.values():
        connection.execute(statement)
    connection.execute("COMMIT")
    connection.close()


def flip(data: bytes, index: int = 0) -> bytes:
    """``data`` with one bit of byte ``index`` flipped."""
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]
