"""Audit records for human review: one trial's, or a UTC time window's, as JSON Lines or CSV.

Part 11 §11.10(b) asks for accurate and complete copies of records in
human-readable form for inspection. ``request`` and ``response`` are shown
through a ``review`` function the caller gives (the service decodes its
messages by method; see ``api.payloads``); by default they are decoded as
JSON, and bytes that are not UTF-8 JSON appear as ``{"base64": ...}``;
hashes are hex. JSON Lines is the exact form. In CSV ``request`` and
``response`` are JSON text, and a text cell that a spreadsheet would run as a
formula (starting with ``= + - @``, tab or CR) is prefixed with ``'``
(OWASP's CSV-injection advice).
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, TextIO

from ..storage import Storage
from .canonical import b64, utc_timestamp
from .records import AuditRecord
from .schema import SELECT_RECORDS, record_from_row

REVIEW_FIELDS = ("seq", "recorded_at", "principal", "method", "trial_id", "status", "design_sha256",
                 "engine_version", "seed", "reason", "corrects_seq", "request", "response", "prev_hash",
                 "leaf_hash")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Review = Callable[[AuditRecord, str], Any]
"""How a record's ``request`` or ``response`` (the second argument names which) is shown to a reader."""


def names_trial(storage: Storage, trial_id: str) -> bool:
    """Whether any record of the log belongs to ``trial_id`` (a trial the log has never heard of is not found,
    rather than exported or replayed as empty)."""
    return bool(storage.query("SELECT 1 FROM audit_records WHERE trial_id = ? LIMIT 1", (trial_id,)))


def select_records(storage: Storage, *, trial_id: str | None = None, start: datetime | None = None,
                   end: datetime | None = None) -> Iterator[AuditRecord]:
    """Records in ``seq`` order, of ``trial_id`` if given, recorded in ``[start, end)`` if given.

    Reads one snapshot, held until the iterator is exhausted or closed.
    """
    conditions, parameters = [], []
    if trial_id is not None:
        conditions.append("trial_id = ?")
        parameters.append(trial_id)
    if start is not None:
        conditions.append("recorded_at >= ?")
        parameters.append(utc_timestamp(start))
    if end is not None:
        conditions.append("recorded_at < ?")
        parameters.append(utc_timestamp(end))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    with storage.reader() as reader:
        for row in reader.execute(f"{SELECT_RECORDS}{where} ORDER BY seq", parameters):
            yield record_from_row(row)


def decoded_json(data: bytes) -> Any:
    """``data`` as the JSON it holds, or ``{"base64": ...}`` when it is not UTF-8 JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError:
        return {"base64": b64(data)}


def stored_json(record: AuditRecord, part: str) -> Any:
    """The default :data:`Review`: the part's bytes read as JSON."""
    return decoded_json(getattr(record.entry, part))


def review_document(record: AuditRecord, review: Review = stored_json) -> dict[str, Any]:
    """``record`` as a JSON-ready dict in :data:`REVIEW_FIELDS` order."""
    entry = record.entry
    return {
        "seq": record.seq, "recorded_at": record.recorded_at, "principal": entry.principal,
        "method": entry.method, "trial_id": entry.trial_id, "status": entry.status,
        "design_sha256": entry.design_sha256, "engine_version": entry.engine_version,
        "seed": None if entry.seed is None else str(entry.seed), "reason": entry.reason,
        "corrects_seq": entry.corrects_seq, "request": review(record, "request"),
        "response": review(record, "response"), "prev_hash": record.prev_hash.hex(),
        "leaf_hash": record.leaf_hash.hex(),
    }


def write_jsonl(records: Iterable[AuditRecord], out: TextIO, review: Review = stored_json) -> int:
    """One JSON object per line; returns the number of records written."""
    count = 0
    for record in records:
        out.write(json.dumps(review_document(record, review), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def _cell(field: str, value: Any) -> str:
    if field in ("request", "response"):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return str(value)


def write_csv(records: Iterable[AuditRecord], out: TextIO, review: Review = stored_json) -> int:
    """A header row then one row per record (RFC 4180 quoting); returns the number of records written.

    ``out`` should be opened with ``newline=""`` as the csv module requires.
    """
    writer = csv.writer(out)
    writer.writerow(REVIEW_FIELDS)
    count = 0
    for record in records:
        document = review_document(record, review)
        writer.writerow([_cell(field, document[field]) for field in REVIEW_FIELDS])
        count += 1
    return count
