"""Exports for human review: by trial and by UTC time window, as JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from dosefinding_server.audit.export import REVIEW_FIELDS, select_records, write_csv, write_jsonl

from .support import START, StepClock, entry, new_log


def build(tmp_path: Path):
    database, log = new_log(tmp_path / "audit.db", clock=StepClock())
    for i in range(6):
        log.append_durable(entry(i))
    log.append_durable(entry(6, trial_id="TRIAL-0", principal="=HYPERLINK(\"http://x\")",
                             request=b"\xff\x00 not json", reason="-1 dose"))
    log.close()
    return database


def test_jsonl_of_one_trial_decodes_request_and_response(tmp_path: Path) -> None:
    database = build(tmp_path)
    out = io.StringIO()
    assert write_jsonl(select_records(database, trial_id="TRIAL-0"), out) == 4
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [2, 4, 6, 8]
    assert list(lines[0]) == list(REVIEW_FIELDS)
    assert lines[0]["request"] == {"outcomes": {"outcome_string": "1NNN 2N"}}
    assert lines[0]["response"] == {"recommended_dose": 1, "continue": True}
    assert lines[0]["seed"] == str((1 << 63) + 0)
    assert lines[-1]["request"] == {"base64": "/wAgbm90IGpzb24="}
    assert lines[-1]["principal"].startswith("=HYPERLINK")
    database.close()


def test_time_window_is_half_open_utc(tmp_path: Path) -> None:
    database = build(tmp_path)
    # The stepping clock gives record 1 second 1, its checkpoint second 2, then record n second n + 1.
    records = list(select_records(database, start=START + timedelta(seconds=5), end=START + timedelta(seconds=9)))
    assert [record.seq for record in records] == [4, 5, 6, 7]
    assert records[0].recorded_at == "2025-03-01T09:00:05.000000Z"
    assert list(select_records(database, start=START + timedelta(seconds=9)))[0].seq == 8
    database.close()


def test_csv_has_a_header_json_cells_and_no_live_formulas(tmp_path: Path) -> None:
    database = build(tmp_path)
    out = io.StringIO(newline="")
    assert write_csv(select_records(database), out) == 8
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert len(rows) == 8 and list(rows[0]) == list(REVIEW_FIELDS)
    assert json.loads(rows[1]["request"]) == {"outcomes": {"outcome_string": "1NNN 2N"}}
    assert rows[1]["trial_id"] == "TRIAL-0" and rows[1]["corrects_seq"] == ""
    assert rows[-1]["principal"] == "'=HYPERLINK(\"http://x\")" and rows[-1]["reason"] == "'-1 dose"
    database.close()
