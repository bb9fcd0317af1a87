"""``dosefinding-server rotate-key``: the hand-over is in the log, the server restarts, and everything verifies."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Iterator

import pytest

from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding_client import DoseFindingClient
from dosefinding_server.api.server import KEY_ARCHIVE_DIR, TRUSTED_CHECKPOINT_FILE, RunningServer, build_server
from dosefinding_server.audit.errors import LogIntegrityError
from dosefinding_server.audit.keys import KEY_METHOD
from dosefinding_server.audit.signing import Checkpoint, key_id, load_private_key, load_public_key
from dosefinding_server.audit.startup import open_audit_log
from dosefinding_server.audit.verify import verify_log
from dosefinding_server.config import Config
from dosefinding_server.main import main
from dosefinding_server.storage.sqlite import Database

from .rfc9162 import checkpoint_holds, consistency_holds, inclusion_holds, public_key
from .support import DECISIONS, call_decision, decision_requests, export_jsonl

SIGNING_KEY = "audit-signing-key.pem"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Servers:
    """Servers on one data directory (every caller is admin), each with a client; all stopped at the end."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.running: list[tuple[RunningServer, DoseFindingClient]] = []

    def start(self) -> tuple[RunningServer, DoseFindingClient]:
        server = build_server(Config(listen="127.0.0.1:0", data_dir=str(self.data_dir), insecure=True,
                                     checkpoint_every=3))
        client = DoseFindingClient(f"127.0.0.1:{server.port}", timeout=30.0, retries=0)
        client.wait_ready()
        self.running.append((server, client))
        return server, client

    def stop(self, server: RunningServer, client: DoseFindingClient) -> None:
        self.running.remove((server, client))
        client.close()
        server.stop(grace=0.5)

    def stop_all(self) -> None:
        while self.running:
            self.stop(*self.running[-1])


@pytest.fixture
def servers(data_dir: Path) -> Iterator[Servers]:
    started = Servers(data_dir)
    yield started
    started.stop_all()


def evaluate(client: DoseFindingClient, times: int) -> None:
    method = DECISIONS + "EvaluateDesign"
    for _ in range(times):
        call_decision(client, method, decision_requests()[method])


def latest(client: DoseFindingClient) -> apb.GetLatestCheckpointResponse:
    return client.call(client.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest())


def verified(client: DoseFindingClient, trusted: object = None) -> apb.VerifyLogResponse:
    request = apb.VerifyLogRequest()
    if trusted is not None:
        request.trusted_checkpoint.CopyFrom(trusted)
    return client.call(client.audit.VerifyLog, request)


def new_key(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert main(["keygen", "--out", str(path)]) == 0
    return path


def rotate(data_dir: Path, key: Path) -> int:
    return main(["rotate-key", "--data-dir", str(data_dir), "--new-key", str(key)])


def installed_key_id(data_dir: Path) -> str:
    return key_id(load_private_key(data_dir / SIGNING_KEY).public_key())


def test_rotate_restart_and_verify(tmp_path, data_dir, servers, capsys):
    server, client = servers.start()
    evaluate(client, 4)
    before = latest(client)
    old_id, old_public = before.checkpoint.key_id, public_key(before.public_key_pem)
    servers.stop(server, client)
    next_key = new_key(tmp_path, "next.pem")
    new_id = key_id(load_private_key(next_key).public_key())
    capsys.readouterr()

    assert rotate(data_dir, next_key) == 0
    assert f"signed by key {new_id}" in capsys.readouterr().out
    assert installed_key_id(data_dir) == new_id
    assert stat.S_IMODE((data_dir / SIGNING_KEY).stat().st_mode) == 0o600
    assert key_id(load_public_key(data_dir / KEY_ARCHIVE_DIR / f"{old_id}.pub")) == old_id
    trusted = Checkpoint.from_json(json.loads((data_dir / TRUSTED_CHECKPOINT_FILE).read_text()))
    assert trusted.key_id == new_id and trusted.tree_size > before.checkpoint.tree_size

    server, client = servers.start()
    after = latest(client)
    assert after.checkpoint.key_id == new_id and checkpoint_holds(after.checkpoint, public_key(after.public_key_pem))
    rotation = [r for r in export_jsonl(client) if r["method"] == KEY_METHOD]
    assert [r["request"]["key_id"] for r in rotation] == [old_id, new_id]
    assert rotation[1]["request"]["previous_key_id"] == old_id and rotation[1]["seq"] == after.checkpoint.tree_size
    assert verified(client, before.checkpoint).ok, "a checkpoint kept from the old key still verifies"
    evaluate(client, 5)
    now = latest(client).checkpoint
    assert now.key_id == new_id and now.tree_size > after.checkpoint.tree_size
    report = verified(client, now)
    assert report.ok, report.problem
    old, new = before.checkpoint, now
    proof = client.call(client.audit.GetConsistencyProof,
                        apb.GetConsistencyProofRequest(old_size=old.tree_size, new_size=new.tree_size))
    assert consistency_holds(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof.proof)
    first = client.call(client.audit.GetInclusionProof, apb.GetInclusionProofRequest(sequence=2,
                                                                                     tree_size=new.tree_size))
    assert inclusion_holds(1, new.tree_size, first.leaf_hash, first.path, new.root_hash)
    servers.stop(server, client)

    database = data_dir / "dosefinding.sqlite3"
    new_public = load_private_key(data_dir / SIGNING_KEY).public_key()
    assert verify_log(database, public_keys=[old_public]).ok, "anchored on the first key, the rotation is endorsed"
    unanchored = verify_log(database, public_keys=[new_public])
    assert not unanchored.ok and unanchored.first_bad_seq == 1 and "not among the trusted" in unanchored.problem


def test_two_rotations_keep_both_retired_keys_and_the_server_restarts(tmp_path, data_dir, servers):
    server, client = servers.start()
    evaluate(client, 2)
    servers.stop(server, client)
    ids = [installed_key_id(data_dir)]
    for name in ("second.pem", "third.pem"):
        path = new_key(tmp_path, name)
        assert rotate(data_dir, path) == 0
        ids.append(installed_key_id(data_dir))
    assert sorted(p.stem for p in (data_dir / KEY_ARCHIVE_DIR).glob("*.pub")) == sorted(ids[:2])
    server, client = servers.start()
    evaluate(client, 2)
    assert latest(client).checkpoint.key_id == ids[2]
    introductions = [r["request"] for r in export_jsonl(client) if r["method"] == KEY_METHOD]
    assert [(i["key_id"], i["previous_key_id"]) for i in introductions] == [
        (ids[0], None), (ids[1], ids[0]), (ids[2], ids[1])]
    assert verified(client).ok


def test_rotation_is_refused_while_a_server_runs_and_for_the_key_in_use(tmp_path, data_dir, servers, capsys):
    server, client = servers.start()
    evaluate(client, 1)
    size = latest(client).size
    next_key = new_key(tmp_path, "next.pem")
    capsys.readouterr()
    assert rotate(data_dir, next_key) == 1
    assert "in use by another dosefinding-server" in capsys.readouterr().err
    assert latest(client).size == size, "nothing was appended"
    servers.stop(server, client)
    assert rotate(data_dir, data_dir / SIGNING_KEY) == 1
    assert "already in use" in capsys.readouterr().err
    assert not (data_dir / KEY_ARCHIVE_DIR).exists() or not any((data_dir / KEY_ARCHIVE_DIR).iterdir())
    assert main(["rotate-key", "--data-dir", str(tmp_path / "nowhere"), "--new-key", str(next_key)]) == 1
    assert "no audit log" in capsys.readouterr().err


def test_a_rotation_interrupted_before_the_key_was_installed_is_completed_by_running_it_again(
        tmp_path, data_dir, servers):
    server, client = servers.start()
    evaluate(client, 3)
    servers.stop(server, client)
    next_key = new_key(tmp_path, "next.pem")
    old = load_private_key(data_dir / SIGNING_KEY)
    with Database(data_dir / "dosefinding.sqlite3") as database:  # the log step of a rotation, then a crash
        with open_audit_log(database, old) as audit:
            audit.rotate_key(load_private_key(next_key))
    with pytest.raises(LogIntegrityError, match="not the log's active key"):
        build_server(Config(listen="127.0.0.1:0", data_dir=str(data_dir), insecure=True))
    assert rotate(data_dir, next_key) == 0
    server, client = servers.start()
    assert latest(client).checkpoint.key_id == key_id(load_private_key(next_key).public_key())
    assert len([r for r in export_jsonl(client) if r["method"] == KEY_METHOD]) == 2, "rotated once, not twice"
    assert verified(client).ok


def test_the_public_key_archive_is_what_anchors_verification(tmp_path, data_dir, servers):
    server, client = servers.start()
    servers.stop(server, client)
    assert rotate(data_dir, new_key(tmp_path, "next.pem")) == 0
    for archived in (data_dir / KEY_ARCHIVE_DIR).glob("*.pub"):
        archived.unlink()
    with pytest.raises(LogIntegrityError, match="not among the trusted public keys"):
        build_server(Config(listen="127.0.0.1:0", data_dir=str(data_dir), insecure=True))


def test_keygen_refuses_to_overwrite_either_key_file_and_says_so(tmp_path, capsys):
    existing = new_key(tmp_path, "kept.pem")
    before = existing.read_bytes(), existing.with_suffix(".pub").read_bytes()
    capsys.readouterr()
    assert main(["keygen", "--out", str(existing)]) == 1
    assert capsys.readouterr().err == (f"dosefinding-server keygen: {existing} already exists; "
                                       "refusing to overwrite a key file\n")
    assert (existing.read_bytes(), existing.with_suffix(".pub").read_bytes()) == before
    stray = tmp_path / "stray.pub"
    stray.write_text("someone else's public key")
    assert main(["keygen", "--out", str(tmp_path / "stray.pem")]) == 1
    assert not (tmp_path / "stray.pem").exists() and stray.read_text() == "someone else's public key"
    assert main(["keygen", "--out", str(tmp_path / "missing" / "key.pem")]) == 1
    assert "No such file or directory" in capsys.readouterr().err
