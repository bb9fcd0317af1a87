"""Crash recovery: SIGKILL ``dosefinding-server`` under load, at random moments and at injected points.

The server runs as a real process on one data directory, as one process and as two (``--workers 2``: the
random kills hit the primary, which takes its worker and audit writer with it; the injected points are
reached in the audit writer, whose death the primary reports before it exits). Client threads record
cohorts in their own trials and evaluate designs, each remembering every audit
sequence number acknowledged to it and the request it sent. The server is
killed (SIGKILL: no shutdown, no final checkpoint) at random moments, and at
the test hook's points (``DOSEFINDING_CRASH_AT``: before a group commit, after
it but before any reply, while signing a checkpoint), then restarted on the
same directory. After every restart:

* the server starts, so its start-up verification passed (against the
  trusted checkpoint of the one clean shutdown, older than the log by then);
* ``VerifyLog`` passes against the latest checkpoint the auditor kept before
  the crash: the log is a consistent extension of what was signed;
* every acknowledged sequence number holds the request its client sent;
* a write that was in flight at the crash is retried with its idempotency
  key and applied exactly once (its trial's events point at acknowledged
  records, one per cohort).

``CRASH_SEED`` in the environment replays a run's random choices.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from dosefinding.v1 import audit_pb2
from dosefinding.v1 import audit_service_pb2 as apb
from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError, design_from_stages
from dosefinding_server.api.server import TRUSTED_CHECKPOINT_FILE
from dosefinding_server.audit.signing import Checkpoint, load_private_key
from dosefinding_server.audit.verify import verify_log
from validation.server_process import launch, wait_until_serving

START_SECONDS = 30.0
CALL_SECONDS = 15.0
RANDOM_KILLS = 14
INJECTED = ("before_commit", "after_commit", "signing_checkpoint")
TRIAL_WORKERS, EVALUATE_WORKERS = 3, 3
CRM = {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}
TRIAL_DESIGN = design_from_stages([CRM])  # never stops by itself: a trial can take cohorts for ever
EVALUATE_DESIGN = design_from_stages([CRM, {"stage": "dont_skip_doses", "when_escalating": True},
                                      {"stage": "stop_at_n", "n": 24}])
#: How a call fails when the server process is killed under it (or is already gone).
GONE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
#: How a call may also fail as the server goes down: cut off mid-stream by the kill (UNKNOWN, INTERNAL), or
#: answered by a serving process whose audit writer was killed (ABORTED: not confirmed durable, retry with the
#: same key). Accepted only if the server process is dead or dies soon.
CUT_OFF = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED})
DYING_SECONDS = 5.0


def as_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class ServerProcess:
    """``dosefinding-server`` (``workers`` processes) as a child process on a free loopback port and a fixed
    data directory."""

    def __init__(self, data_dir: Path, scratch: Path, workers: int) -> None:
        self.data_dir, self.scratch, self.workers = data_dir, scratch, workers
        self.log_path = scratch / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, crash_at: str | None = None) -> str:
        """Start and wait (bounded) until it serves; returns its address. Fails if it does not start."""
        self.starts += 1
        ready = self.scratch / f"ready-{self.starts}.json"
        environment = {key: value for key, value in os.environ.items() if key != "DOSEFINDING_CRASH_AT"}
        if crash_at is not None:
            environment["DOSEFINDING_CRASH_AT"] = crash_at
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} (crash_at={crash_at})\n".encode())
            self.process = launch(self.data_dir, ready, log, "--checkpoint-every", "5", "--log-level", "warning",
                                  "--workers", str(self.workers), env=environment)
        return wait_until_serving(self.process, ready, self.log_path, START_SECONDS)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def crashed_at_injected_point(self, timeout: float) -> bool:
        """Whether the process that reached the armed point died of SIGKILL within ``timeout`` seconds: the
        server itself, or with several processes its audit writer, which the primary reports before exiting 1."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        if self.workers == 1:
            return code == -signal.SIGKILL
        this_run = self.log_path.read_text(errors="replace").rpartition(f"--- start {self.starts} ")[2]
        events = [json.loads(line) for line in this_run.splitlines() if line.startswith("{")]
        return code == 1 and any(event.get("event") == "process_exited" and event.get("exit_code") == -signal.SIGKILL
                                 and event.get("process") == "dosefinding-audit-writer" for event in events)

    def exits_within(self, seconds: float) -> bool:
        assert self.process is not None
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@dataclass
class Worker:
    """One client thread's memory, kept across restarts: what was acknowledged to it, what is in flight."""

    name: str
    rng: random.Random
    acked: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    disconnects: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    #: Writes retried after a crash, and how many of those had been committed before it (answered "replayed").
    retried: int = 0
    replayed: int = 0

    def ack(self, seq: int, method: str, request: Message) -> None:
        assert seq > 0, f"{self.name}: a response without an audit receipt"
        previous = self.acked.get(seq)
        assert previous is None or previous == (method, as_json(request)), \
            f"{self.name}: sequence {seq} acknowledged for two different requests"
        self.acked[seq] = (method, as_json(request))

    def step(self, client: DoseFindingClient) -> None:
        raise NotImplementedError

    def run(self, address: str, stop: threading.Event, dead: Callable[[float], bool]) -> None:
        """Call until ``stop`` or until the server goes away (the first transport failure).

        ``dead(seconds)`` says whether the server process exits within that time.
        """
        with DoseFindingClient(address, timeout=CALL_SECONDS, retries=0) as client:
            while not stop.is_set():
                try:
                    self.step(client)
                    self.calls += 1
                except ServiceError as error:
                    if error.code in GONE or (error.code in CUT_OFF and dead(DYING_SECONDS)):
                        self.disconnects[error.code.name] = self.disconnects.get(error.code.name, 0) + 1
                    else:
                        self.errors.append(f"{self.name}: {error}")
                    return
                except Exception as error:  # a failed check in this thread fails the test at the next join
                    self.errors.append(f"{self.name}: {type(error).__name__}: {error}")
                    return


@dataclass
class TrialWorker(Worker):
    """Runs its own trial: cohorts of one at the recommended dose; an unanswered write is retried unchanged."""

    trial_id: str | None = None
    version: int = 0
    dose: int | None = None
    patients: int = 0
    pending: Message | None = None
    unanswered: bool = False  # the pending write was sent and no answer came back
    cohorts: dict[int, int] = field(default_factory=dict)  # audit seq of each acknowledged cohort -> version

    def send(self, client: DoseFindingClient, method: Any) -> Any:
        """Send the pending write; count it if it is a retry, and whether the server had applied it already."""
        retry, self.unanswered = self.unanswered, True
        answer = method(self.pending)
        self.unanswered = False
        self.retried += retry
        self.replayed += answer.replayed
        assert answer.replayed <= retry, f"{self.name}: a first attempt answered as a replay"
        return answer

    def step(self, client: DoseFindingClient) -> None:
        if self.trial_id is None:
            self.pending = self.pending or tpb.CreateTrialRequest(
                protocol_id=f"CRASH-{self.name}", design=TRIAL_DESIGN, idempotency_key=uuid.uuid4().hex)
            created = self.send(client, lambda r: client.call(client.trials.CreateTrial, r))
            self.ack(created.audit.sequence, "/dosefinding.v1.TrialService/CreateTrial", self.pending)
            self.trial_id, self.version, self.pending = created.trial.trial_id, created.trial.version, None
        elif self.dose is None:
            request = tpb.GetDecisionRequest(trial_id=self.trial_id)
            answer = client.call(client.trials.GetDecision, request)
            self.ack(answer.audit.sequence, "/dosefinding.v1.TrialService/GetDecision", request)
            self.dose = answer.decision.recommended_dose
        else:
            if self.pending is None:
                self.patients += 1
                self.pending = tpb.RecordOutcomesRequest(
                    trial_id=self.trial_id, expected_version=self.version, dose=self.dose,
                    patients=[outcomes_pb2.PatientOutcome(patient_id=f"{self.name}-{self.patients}",
                                                          toxicity=self.rng.random() < 0.2)],
                    idempotency_key=uuid.uuid4().hex)
            recorded = self.send(client, lambda r: client.call(client.trials.RecordOutcomes, r))
            self.ack(recorded.audit.sequence, "/dosefinding.v1.TrialService/RecordOutcomes", self.pending)
            assert recorded.trial.version == self.version + 1, f"{self.name}: applied twice or skipped"
            self.cohorts[recorded.audit.sequence] = recorded.trial.version
            self.version, self.dose, self.pending = recorded.trial.version, recorded.decision.recommended_dose, None


@dataclass
class EvaluateWorker(Worker):
    """Stateless decisions on random outcomes; nothing to retry."""

    def step(self, client: DoseFindingClient) -> None:
        cohorts = " ".join(f"{self.rng.randint(1, 5)}{''.join(self.rng.choice('NNNT') for _ in range(3))}"
                           for _ in range(self.rng.randint(0, 5)))
        request = dpb.EvaluateDesignRequest(design=EVALUATE_DESIGN,
                                            outcomes=outcomes_pb2.Outcomes(outcome_string=cohorts))
        answer = client.call(client.decisions.EvaluateDesign, request)
        self.ack(answer.audit.sequence, "/dosefinding.v1.DecisionService/EvaluateDesign", request)


class Load:
    """The workers' threads against one server run."""

    def __init__(self, workers: list[Worker], address: str, server: ServerProcess) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=w.run, args=(address, self.stop, server.exits_within), name=w.name,
                                         daemon=True)
                        for w in workers]
        for thread in self.threads:
            thread.start()

    def join(self, workers: list[Worker]) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=CALL_SECONDS + 5)
            assert not thread.is_alive(), f"{thread.name} is stuck"
        errors = [error for worker in workers for error in worker.errors]
        assert not errors, errors


@dataclass
class Auditor:
    """An auditor who keeps the latest signed checkpoint it has seen, to verify the next run against."""

    kept: audit_pb2.Checkpoint | None = None
    verified_runs: int = 0

    def keep_latest(self, address: str) -> None:
        try:
            with DoseFindingClient(address, timeout=CALL_SECONDS, retries=0) as client:
                latest = client.call(client.audit.GetLatestCheckpoint, apb.GetLatestCheckpointRequest())
        except ServiceError as error:  # the server may already be gone (an injected crash)
            assert error.code in GONE | CUT_OFF, error
            return
        if self.kept is None or latest.checkpoint.tree_size >= self.kept.tree_size:
            self.kept = latest.checkpoint

    def check(self, address: str, workers: list[Worker], label: str) -> dict[int, dict[str, Any]]:
        """Verify the log against the kept checkpoint and find every acknowledged request in it."""
        with DoseFindingClient(address, timeout=60.0, retries=0) as client:
            request = apb.VerifyLogRequest()
            if self.kept is not None:
                request.trusted_checkpoint.CopyFrom(self.kept)
            report = client.call(client.audit.VerifyLog, request)
            assert report.ok, f"{label}: {report.problem}"
            chunks = client.audit.ExportRecords(apb.ExportRecordsRequest(format=apb.EXPORT_FORMAT_JSONL),
                                                timeout=60.0)
            text = b"".join(chunk.chunk for chunk in chunks).decode()
        records = {r["seq"]: r for r in map(json.loads, text.splitlines())}
        assert sorted(records) == list(range(1, report.records + 1)), f"{label}: the export has gaps"
        for worker in workers:
            for seq, (method, sent) in worker.acked.items():
                record = records.get(seq)
                assert record is not None, f"{label}: {worker.name}'s acknowledged record {seq} is missing"
                assert (record["method"], record["status"], record["request"]) == (method, "OK", sent), \
                    f"{label}: record {seq} is not the request {worker.name} sent"
        self.verified_runs += 1
        return records


def check_trials(address: str, workers: list[TrialWorker], label: str) -> None:
    """Each trial holds exactly the acknowledged cohorts, each event pointing at its acknowledged record."""
    with DoseFindingClient(address, timeout=CALL_SECONDS, retries=0) as client:
        for worker in workers:
            if worker.trial_id is None or worker.pending is not None:
                continue
            history = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=worker.trial_id))
            cohorts = {e.audit_sequence: e.version for e in history.events if e.WhichOneof("kind") == "cohort"}
            assert cohorts == worker.cohorts, f"{label}: {worker.name}'s trial differs from what was acknowledged"
            assert history.trial.version == worker.version and history.trial.num_patients == len(worker.cohorts)


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", tmp_path, request.param)
    yield process
    process.ensure_stopped()


def test_the_log_survives_sigkill_under_load_at_random_moments_and_at_injected_points(server, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    trial_workers = [TrialWorker(f"trial{i}", random.Random(rng.random())) for i in range(TRIAL_WORKERS)]
    workers: list[Worker] = [*trial_workers,
                             *(EvaluateWorker(f"evaluate{i}", random.Random(rng.random()))
                               for i in range(EVALUATE_WORKERS))]
    auditor = Auditor()
    plan: list[str | None] = [None] * RANDOM_KILLS
    for point in INJECTED:
        plan.insert(rng.randrange(len(plan) + 1), point)
    outcomes: list[str] = []
    started = time.monotonic()
    try:
        # A first run ends cleanly, so every later start verifies against its (ever older) trusted checkpoint.
        address = server.start()
        load = Load(workers, address, server)
        time.sleep(0.3)
        load.join(workers)
        assert server.terminate() == 0
        assert (server.data_dir / TRUSTED_CHECKPOINT_FILE).exists()
        first_trusted = json.loads((server.data_dir / TRUSTED_CHECKPOINT_FILE).read_text())

        for cycle, point in enumerate(plan, start=1):
            label = f"cycle {cycle} (seed {seed})"
            crash_at = None if point is None else f"{point}:{rng.randint(2, 12)}"
            address = server.start(crash_at)
            acknowledged = max((seq for w in workers for seq in w.acked), default=0)
            records = auditor.check(address, workers, label)
            check_trials(address, trial_workers, label)
            if outcomes and outcomes[-1].startswith("after_commit"):
                assert len(records) > acknowledged, f"{label}: the batch committed before the crash is not there"
            load = Load(workers, address, server)
            if crash_at is None:
                time.sleep(rng.uniform(0.05, 0.3))
                auditor.keep_latest(address)
                time.sleep(rng.uniform(0.0, 0.3))
                server.kill()
                outcomes.append("random")
            else:
                auditor.keep_latest(address)
                assert server.crashed_at_injected_point(timeout=20.0), f"{label}: {crash_at} was never reached"
                outcomes.append(crash_at)
            load.join(workers)

        address = server.start()
        auditor.check(address, workers, f"final run (seed {seed})")
        load = Load(workers, address, server)  # the writes in flight at the last crash are retried and applied once
        time.sleep(0.3)
        load.join(workers)
        check_trials(address, trial_workers, f"final run (seed {seed})")
        assert all(w.pending is None for w in trial_workers)
        records = auditor.check(address, workers, f"final run (seed {seed})")
        assert server.terminate() == 0
    except BaseException:
        print(f"crash test seed {seed}; outcomes so far: {outcomes}\n{server.log_tail()}")
        raise

    assert len(outcomes) == RANDOM_KILLS + len(INJECTED) and auditor.verified_runs == len(plan) + 2
    assert all(w.calls > 0 and w.acked for w in workers)
    trusted = Checkpoint.from_json(json.loads((server.data_dir / TRUSTED_CHECKPOINT_FILE).read_text()))
    assert trusted.tree_size == len(records) > first_trusted["tree_size"]
    key = load_private_key(server.data_dir / "audit-signing-key.pem").public_key()
    report = verify_log(server.data_dir / "dosefinding.sqlite3", trusted, public_keys=[key])
    assert report.ok and report.records == report.signed_records == len(records), report
    disconnects: dict[str, int] = {}
    for worker in workers:
        for code, count in worker.disconnects.items():
            disconnects[code] = disconnects.get(code, 0) + count
    print(f"crash test: seed {seed}, {len(outcomes)} kills ({outcomes}), {len(records)} records, "
          f"{sum(len(w.acked) for w in workers)} acknowledged, {sum(w.retried for w in workers)} writes retried "
          f"after a crash ({sum(w.replayed for w in workers)} had been committed unanswered), calls cut off: "
          f"{disconnects}, "
          f"{time.monotonic() - started:.1f} s")
