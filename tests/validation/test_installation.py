"""IQ: the installation is identified file by file, and changed reference data is caught and named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from validation.digests import sha256_file
from validation.installation import REFERENCE_DIR, reference_data

from .conftest import Report


def test_the_report_identifies_the_installation(signed_report: Report) -> None:
    iq = json.loads((signed_report.directory / "report.json").read_text())["iq"]
    assert iq["ok"], iq["failures"]
    files = {f["path"]: f["sha256"] for f in iq["project"]["files"]}
    assert "dosefinding/v1/decision_service_pb2.py" in files, "the generated stubs are identified"
    assert "dosefinding_server/engine/selectors/crm.py" in files
    assert {d["name"] for d in iq["distributions"]} >= {"dosefinding", "grpcio", "numpy", "scipy"}
    assert iq["stubs"]["checked"] and all(f["matches"] for f in iq["stubs"]["files"])
    assert {f["path"] for f in iq["protos"]["files"]} >= {"dosefinding/v1/decision_service.proto"}
    assert all(f["ok"] for f in iq["reference"]["files"])


def test_a_changed_reference_file_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, copy)
    data = bytearray((copy / "tree_stopping.jsonl").read_bytes())
    data[100] ^= 0x01
    (copy / "tree_stopping.jsonl").write_bytes(bytes(data))
    (copy / "extra.jsonl").write_text("{}\n")
    result = reference_data(copy)
    assert result["problems"] == [
        "reference file extra.jsonl is not recorded in PROVENANCE.json",
        f"reference file tree_stopping.jsonl differs from PROVENANCE.json (sha256 "
        f"{sha256_file(copy / 'tree_stopping.jsonl')}, 150 lines)",
    ]
