"""A checkpoint an auditor keeps outside the service is trusted by ``audit verify``, remotely and offline, in either
form the service hands out: what ``audit checkpoint`` prints, or a copy of a data directory's
``trusted-checkpoint.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dosefinding.v1 import audit_service_pb2 as pb
from dosefinding_server.api.audit_service import checkpoint_from_message
from dosefinding_server.api.server import save_trusted_checkpoint
from google.protobuf import json_format
from tests.support import EXAMPLES

from .support import backup


@pytest.fixture
def kept(run, tmp_path: Path) -> dict[str, Path]:
    """The latest checkpoint after a cohort, kept in both forms."""
    _, created, _ = run("trial", "create", "--protocol", "KEPT-1", "--design", str(EXAMPLES / "crm.json"))
    assert run("trial", "record", created.split()[1], "--dose", "1", "--outcomes", "NNN")[0] == 0
    code, printed, _ = run("audit", "checkpoint")
    assert code == 0
    (tmp_path / "printed.json").write_text(printed)
    response = json_format.Parse(printed, pb.GetLatestCheckpointResponse())
    (tmp_path / "store").mkdir()
    save_trusted_checkpoint(tmp_path / "store", checkpoint_from_message(response.checkpoint))
    return {"printed": tmp_path / "printed.json", "store": tmp_path / "store" / "trusted-checkpoint.json"}


@pytest.mark.parametrize("form", ["printed", "store"])
def test_a_kept_checkpoint_is_trusted_remotely_and_offline(run, server, tmp_path, kept, form) -> None:
    code, out, err = run("audit", "verify", "--trusted-checkpoint", str(kept[form]))
    assert (code, err) == (0, "") and out.startswith("audit log verified by the server: ")
    public = backup(server, tmp_path / "copy")
    code, out, err = run("audit", "verify", "--data-dir", str(tmp_path / "copy"), "--public-key", str(public),
                         "--trusted-checkpoint", str(kept[form]))
    assert (code, err) == (0, "") and out.startswith(f"audit log verified against the checkpoint in {kept[form]}: ")


@pytest.mark.parametrize("form", ["printed", "store"])
def test_an_altered_kept_checkpoint_fails_verification(run, kept, form) -> None:
    record = json.loads(kept[form].read_text())
    checkpoint = record["checkpoint"] if form == "printed" else record
    checkpoint["tree_size"] = int(checkpoint["tree_size"]) + 1
    kept[form].write_text(json.dumps(record))
    code, _, err = run("audit", "verify", "--trusted-checkpoint", str(kept[form]))
    assert code == 1 and "FAILED verification" in err and "signature does not verify" in err


@pytest.mark.parametrize("change, problem", [
    ({"tree_size": "6"}, "tree_size: '6' is not an integer"),
    ({"key_id": None}, "key_id: None is not text"),
    ({"tree_size": True}, "tree_size: True is not an integer"),
    ({"root_hash": "zz"}, "root_hash: 'zz' is not hexadecimal"),
    ({"signature": 7}, "signature: 7 is not hexadecimal"),
    ({"signed_at": "yesterday"}, "signed_at: 'yesterday' is not a canonical UTC timestamp"),
])
def test_a_store_form_checkpoint_that_is_not_one_is_named(run, kept, change, problem) -> None:
    record = json.loads(kept["store"].read_text()) | change
    kept["store"].write_text(json.dumps(record))
    code, out, err = run("audit", "verify", "--trusted-checkpoint", str(kept["store"]))
    assert (code, out) == (2, "") and err.startswith(f"dosefinding: checkpoint file {kept['store']}: ")
    assert problem in err
