"""Ed25519 keys, key files, the checkpoint byte format, signatures and endorsements."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding_server.audit.errors import KeyFileError
from dosefinding_server.audit.signing import (Checkpoint, endorse, endorsement_valid, generate_private_key, key_id,
                                              load_private_key, load_public_key, raw_public_key, save_private_key,
                                              save_public_key, sign_checkpoint)

from .support import KEY, OTHER_KEY
from tests.support import JSON_DOCUMENTS

ROOT = bytes(range(32))


def test_key_id_is_the_sha256_of_the_raw_public_key() -> None:
    raw = raw_public_key(KEY.public_key())
    assert len(raw) == 32
    assert key_id(KEY.public_key()) == hashlib.sha256(raw).hexdigest()


def test_private_key_file_is_0600_not_overwritten_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    key = generate_private_key()
    save_private_key(key, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert key_id(load_private_key(path).public_key()) == key_id(key.public_key())
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_private_key(generate_private_key(), path)


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    save_private_key(KEY, path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_private_key(path)


def test_encrypted_private_key_and_public_key_files(tmp_path: Path) -> None:
    save_private_key(KEY, tmp_path / "audit.key", passphrase=b"correct horse")
    assert key_id(load_private_key(tmp_path / "audit.key", b"correct horse").public_key()) == key_id(KEY.public_key())
    with pytest.raises(KeyFileError) as raised:
        load_private_key(tmp_path / "audit.key", b"wrong")
    assert "correct horse" not in str(raised.value)
    save_public_key(KEY.public_key(), tmp_path / "audit.pub")
    assert key_id(load_public_key(tmp_path / "audit.pub")) == key_id(KEY.public_key())
    with pytest.raises(KeyFileError):
        load_public_key(tmp_path / "absent.pub")


def test_checkpoint_signed_bytes_are_the_documented_format() -> None:
    checkpoint = sign_checkpoint(KEY, 42, ROOT, "2025-03-01T09:00:00.000000Z")
    assert checkpoint.signed_bytes() == (
        b"dosefinding-audit-checkpoint v1\n"
        b"tree_size 42\n"
        b"root_hash 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        b"signed_at 2025-03-01T09:00:00.000000Z\n"
        b"key_id " + key_id(KEY.public_key()).encode() + b"\n")
    KEY.public_key().verify(checkpoint.signature, checkpoint.signed_bytes())


def test_checkpoint_signature_covers_every_field() -> None:
    checkpoint = sign_checkpoint(KEY, 42, ROOT, "2025-03-01T09:00:00.000000Z")
    assert checkpoint.signature_valid(KEY.public_key())
    assert not checkpoint.signature_valid(OTHER_KEY.public_key())
    for altered in (replace(checkpoint, tree_size=41), replace(checkpoint, root_hash=bytes(32)),
                    replace(checkpoint, signed_at="2025-03-01T09:00:00.000001Z"),
                    replace(checkpoint, signature=bytes([checkpoint.signature[0] ^ 1]) + checkpoint.signature[1:])):
        assert not altered.signature_valid(KEY.public_key())
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint


KEPT = sign_checkpoint(KEY, 42, ROOT, "2025-03-01T09:00:00.000000Z").to_json()


@settings(max_examples=200, deadline=None)
@given(document=JSON_DOCUMENTS | st.fixed_dictionaries({name: st.just(value) | JSON_DOCUMENTS
                                                        for name, value in KEPT.items()}))
def test_reading_a_kept_checkpoint_converts_nothing_by_guess(document: object) -> None:
    try:
        read = Checkpoint.from_json(document)
    except ValueError:
        return
    assert read.to_json() == document, "only the exact form to_json writes is read"


def test_endorsement_binds_successor_and_predecessor() -> None:
    signature = endorse(KEY, OTHER_KEY.public_key())
    assert endorsement_valid(KEY.public_key(), key_id(OTHER_KEY.public_key()), signature)
    assert not endorsement_valid(KEY.public_key(), key_id(KEY.public_key()), signature)
    assert not endorsement_valid(OTHER_KEY.public_key(), key_id(OTHER_KEY.public_key()), signature)
