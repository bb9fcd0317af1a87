"""Interoperability: a Node.js client built from nothing but proto/ drives a trial; Python sees the same decision.

The Node package (``tests/interop/node``) pins ``@grpc/grpc-js`` and ``@grpc/proto-loader`` in its
``package-lock.json``; the test installs it with ``npm ci`` (network to the npm registry only).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient
from dosefinding_server.api.server import RunningServer
from dosefinding_server.config import Config
from dosefinding_server.security.principals import Role
from tests.trials.support import (LIFECYCLE, Caller, cohort, connect, create, decision_now, design, evaluate, record,
                                  running, token_identities)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent / "node"
PROTO_ROOT = ROOT / "proto"
COHORTS = [[False, False, False], [False, False, False], [False, True, False]]
NODE_SECONDS = 60


@pytest.fixture(scope="module")
def node_client() -> Path:
    """The installed Node package's script; skipped only when node or npm is not on this machine."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node.js interoperability test (not found on PATH)")
    installed = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
                               cwd=PACKAGE, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout[-2000:]}\n{installed.stderr[-3000:]}"
    return PACKAGE / "client.mjs"


def scenario(prefix: str) -> dict[str, Any]:
    return {
        "protocol_id": "NODE-INTEROP",
        "design": json_format.MessageToDict(design(LIFECYCLE), preserving_proto_field_name=True),
        "cohorts": [[{"patient_id": f"{prefix}-{n}-{i}", "toxicity": t} for i, t in enumerate(tox, start=1)]
                    for n, tox in enumerate(COHORTS, start=1)],
        "idempotency_prefix": prefix,
    }


def run_node(script: Path, address: str, plan: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    env = {"PATH": str(Path(shutil.which("node") or "node").parent)}
    if token:
        env["DOSEFINDING_TOKEN"] = token
    done = subprocess.run(["node", str(script), address, str(PROTO_ROOT)], input=json.dumps(plan),
                          capture_output=True, text=True, timeout=NODE_SECONDS, cwd=script.parent, env=env)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output from node (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return done.returncode, json.loads(lines[-1])


def python_run(client: DoseFindingClient, prefix: str) -> tuple[tpb.Trial, list[int]]:
    """The same scenario through the Python client."""
    trial = create(client, protocol_id="NODE-INTEROP").trial
    doses = []
    for number, toxicities in enumerate(COHORTS, start=1):
        dose = decision_now(client, trial.trial_id).decision.recommended_dose
        trial = record(client, trial, dose, cohort(f"{prefix}-{number}", toxicities)).trial
        doses.append(dose)
    return trial, doses


def test_node_drives_a_trial_and_gets_the_python_decision(node_client: Path, server: RunningServer,
                                                          client: DoseFindingClient) -> None:
    code, answer = run_node(node_client, f"127.0.0.1:{server.port}", scenario(uuid.uuid4().hex[:8]))
    assert code == 0, answer
    assert answer["versions"] == ["1", "2", "3", "4"], "int64 versions arrive as strings with longs: String"

    from_node = tpb.GetDecisionResponse.FromString(base64.b64decode(answer["decision_response_b64"]))
    from_python = decision_now(client, answer["trial_id"])
    assert from_node.decision == from_python.decision
    assert from_node.trial.trial_id == answer["trial_id"] and from_node.trial.version == 4
    assert answer["decision"]["recommended_dose"] == from_python.decision.recommended_dose
    assert answer["decision"]["continue_trial"] is from_python.decision.continue_trial
    assert len(answer["decision"]["trace"]) == len(from_python.decision.trace)

    trial, doses = python_run(client, uuid.uuid4().hex[:8])
    assert answer["doses"] == doses
    assert answer["design_sha256"] == trial.design_sha256 == evaluate(client, LIFECYCLE, "").design_sha256
    assert from_node.decision == decision_now(client, trial.trial_id).decision

    history = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=answer["trial_id"]))
    assert [e.version for e in history.events] == [1, 2, 3, 4]
    assert [len(e.cohort.patients) for e in history.events[1:]] == [3, 3, 3]


def test_node_presents_a_bearer_token(node_client: Path, tmp_path: Path) -> None:
    caller = Caller("node-edc", "token-node-0123456789", frozenset({Role.STATISTICIAN, Role.SYSTEM}))
    config = Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True, identities=token_identities([caller]))
    with running(config) as server:
        address = f"127.0.0.1:{server.port}"
        code, refused = run_node(node_client, address, scenario("anon"))
        assert code == 1 and refused["error"]["code"] == 16, refused  # UNAUTHENTICATED
        code, answer = run_node(node_client, address, scenario("tok"), token=caller.token)
        assert code == 0, answer
        with connect(address, metadata=caller.metadata) as python:
            history = python.call(python.trials.GetTrial, tpb.GetTrialRequest(trial_id=answer["trial_id"]))
    assert {e.author for e in history.events} == {"node-edc"}
