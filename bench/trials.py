"""Trials as a service under load: durable decisions per second and RecordOutcomes latency over loopback.

``run()`` starts ``dosefinding-server --workers 2`` (two processes, one per core, plaintext on
loopback, a throw-away data dir, the audit log on as always) and measures:

* ``record_outcomes``: ``threads`` clients, each with its own connection and its own trial with a CRM
  design, each recording ``cohorts`` cohorts one after the other at the dose the previous answer
  recommended, as fast as answers come (closed loop: the capacity). Every answer carries the new
  decision and is sent only after the cohort and its audit record are durable (fsynced), so each
  call is one durable decision. Reported: decisions per second over the whole run, client-side
  p50/p99/max latency, and the server's CPU per decision (all its processes);
* ``paced``: the latency at the target rate. ``PACED_CLIENTS`` clients together send
  ``RATE_TARGET`` decisions per second on a fixed schedule (open loop), and each latency is counted
  from the moment the call was due, not from when a late client got round to sending it, so
  queueing is not hidden (no coordinated omission);
* the same closed loop with one client (no queueing: the latency floor);
* ``audit_share``: where the time of one decision goes: the engine's fit in-process, the audited
  ``EvaluateDesign`` round trip, and a durable audit append on its own (an ``AuditLog`` on a
  temporary store, one record at a time). The audit cannot be switched off in the server, so its
  share is estimated from these three.

Targets (a 2-core machine, the load generator on it too): over 500 durable decisions per second
(``record_outcomes``), and p99 under 10 ms at that rate (``paced``).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from dosefinding.v1 import decision_service_pb2, outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, design_from_stages

THREADS = 8
COHORTS = 60
SERVER_PROCESSES = 2
PACED_CLIENTS = 8
PACED_SECONDS = 6.0
WARMUP_COHORTS = 3
COHORT_SIZE = 3
TOXICITY_RATE = 0.15
START_SECONDS = 60.0
CRM = [{"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}]
P99_TARGET_MS = 10.0
RATE_TARGET = 500.0


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("dosefinding-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dosefinding_server.main"]


@dataclass(frozen=True)
class ServerProcess:
    """A running ``dosefinding-server``: its address and process id."""

    address: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server's processes (it and its children) have used so far.

        Linux ``/proc``; None elsewhere.
        """
        stats = {}
        for path in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = path.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            stats[int(path.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        if self.pid not in stats:
            return None
        ticks = stats[self.pid][1] + sum(used for parent, used in stats.values() if parent == self.pid)
        return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_process(data_dir: Path, processes: int = SERVER_PROCESSES) -> Iterator[ServerProcess]:
    """``dosefinding-server`` on a free loopback port with ``data_dir``; yields it once it serves."""
    ready = data_dir.parent / "ready.json"
    log_path = data_dir.parent / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _server_command() + ["--listen", "127.0.0.1:0", "--insecure", "--data-dir", str(data_dir),
                                 "--ready-file", str(ready), "--log-level", "warning",
                                 "--workers", str(processes)],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.02)
        yield ServerProcess(json.loads(ready.read_text())["address"], process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-quantile (nearest rank) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class TrialWriter:
    """One client recording cohorts into its own trial, as a trial-management system would."""

    address: str
    index: int
    cohorts: int
    latencies: list[float] = field(default_factory=list)
    error: BaseException | None = None

    def prepare(self) -> None:
        self.client = DoseFindingClient(self.address, timeout=30.0, retries=0)
        self.client.wait_ready()
        self.random = random.Random(self.index)
        created = self.client.call(self.client.trials.CreateTrial, tpb.CreateTrialRequest(
            protocol_id=f"BENCH-{self.index}", design=design_from_stages(CRM), idempotency_key=uuid.uuid4().hex))
        self.trial = created.trial
        self.dose = self.client.call(self.client.trials.GetDecision, tpb.GetDecisionRequest(
            trial_id=self.trial.trial_id)).decision.recommended_dose
        self.number = 0
        for _ in range(WARMUP_COHORTS):
            self.record()

    def record(self, due: float | None = None) -> float:
        """Record the next cohort at the recommended dose; the call's latency in seconds, counted from
        ``due`` (a ``perf_counter`` time) if given, else from when it was sent."""
        self.number += 1
        patients = [outcomes_pb2.PatientOutcome(patient_id=f"p{self.number}-{i}",
                                                toxicity=self.random.random() < TOXICITY_RATE)
                    for i in range(COHORT_SIZE)]
        request = tpb.RecordOutcomesRequest(trial_id=self.trial.trial_id, expected_version=self.trial.version,
                                            idempotency_key=uuid.uuid4().hex, dose=self.dose, patients=patients)
        started = time.perf_counter()
        answer = self.client.call(self.client.trials.RecordOutcomes, request)
        elapsed = time.perf_counter() - (started if due is None else due)
        self.trial, self.dose = answer.trial, answer.decision.recommended_dose
        return elapsed

    def run(self, start: threading.Barrier, interval: float | None = None) -> None:
        """``cohorts`` calls: back to back, or one every ``interval`` seconds from a start staggered by
        this writer's index (paced: each latency counts from when its call was due)."""
        try:
            start.wait()
            began = time.perf_counter()
            for number in range(self.cohorts):
                due = None
                if interval is not None:
                    due = began + interval * (number + self.index / PACED_CLIENTS)
                    time.sleep(max(0.0, due - time.perf_counter()))
                self.latencies.append(self.record(due))
        except BaseException as error:  # reported by run()
            self.error = error
        finally:
            self.client.close()


def record_outcomes(server: ServerProcess, threads: int, cohorts: int, rate: float | None = None
                    ) -> dict[str, Any]:
    """``threads`` concurrent writers, ``cohorts`` RecordOutcomes each, back to back or together at
    ``rate`` per second; rate, latency and server CPU."""
    writers = [TrialWriter(server.address, i, cohorts) for i in range(threads)]
    for writer in writers:
        writer.prepare()
    start = threading.Barrier(threads + 1)
    interval = None if rate is None else threads / rate
    running = [threading.Thread(target=w.run, args=(start, interval), name=f"writer-{w.index}") for w in writers]
    for thread in running:
        thread.start()
    cpu_before = server.cpu_seconds()
    start.wait()
    began = time.perf_counter()
    for thread in running:
        thread.join()
    seconds = time.perf_counter() - began
    cpu_after = server.cpu_seconds()
    for writer in writers:
        if writer.error is not None:
            raise RuntimeError(f"writer {writer.index} failed") from writer.error
    latencies = sorted(ms for w in writers for ms in (s * 1000 for s in w.latencies))
    return {
        "benchmark": "record_outcomes" if rate is None else "paced", "threads": threads,
        "offered_per_second": rate, "decisions": len(latencies),
        "decisions_per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99), "max_ms": latencies[-1],
        "events_per_trial": WARMUP_COHORTS + cohorts + 1,
        "server_cpu_ms_per_decision": (None if cpu_before is None or cpu_after is None
                                       else (cpu_after - cpu_before) * 1000 / len(latencies)),
    }


def audit_share(address: str, samples: int = 200) -> dict[str, Any]:
    """The engine alone, the audited EvaluateDesign round trip, a durable audit append alone, and the
    CPU the audit record of one RecordOutcomes costs to encode (deterministic protobuf of request and response)."""
    from dosefinding_server.api.payloads import message_bytes
    from dosefinding_server.api.translate import design_from_proto, outcomes_from_proto
    from dosefinding_server.engine.decision import decide

    design = design_from_stages(CRM)
    outcomes = outcomes_pb2.Outcomes(outcome_string="1NNN 2NNN 3NTN 3NNN 4NTT 3NNN")
    request = decision_service_pb2.EvaluateDesignRequest(design=design, outcomes=outcomes)

    engine = []
    for _ in range(samples):
        started = time.perf_counter()
        selector = design_from_proto(design)
        decide(selector, outcomes_from_proto(outcomes, selector))
        engine.append((time.perf_counter() - started) * 1000)

    rpc = []
    with DoseFindingClient(address, timeout=30.0, retries=0) as client:
        client.wait_ready()
        for _ in range(samples):
            started = time.perf_counter()
            client.call(client.decisions.EvaluateDesign, request)
            rpc.append((time.perf_counter() - started) * 1000)

        writer = TrialWriter(address, 99, 0)
        writer.prepare()
        recorded = writer.client.call(writer.client.trials.GetTrial, tpb.GetTrialRequest(
            trial_id=writer.trial.trial_id)).events[-1].cohort
        writer.client.close()
    answer_request = tpb.RecordOutcomesRequest(trial_id=writer.trial.trial_id, expected_version=writer.trial.version,
                                               idempotency_key=uuid.uuid4().hex, dose=recorded.dose,
                                               patients=recorded.patients)
    answer = tpb.RecordOutcomesResponse(trial=writer.trial)
    answer.decision.CopyFrom(client_decision(address, writer.trial.trial_id))
    encoding = []
    for _ in range(samples):
        started = time.perf_counter()
        message_bytes(answer_request)
        message_bytes(answer)
        encoding.append((time.perf_counter() - started) * 1000)

    append = _durable_append_ms(samples)
    engine_ms, rpc_ms, append_ms = (statistics.median(v) for v in (engine, rpc, append))
    return {
        "benchmark": "audit_share", "engine_p50_ms": engine_ms, "evaluate_rpc_p50_ms": rpc_ms,
        "durable_append_p50_ms": append_ms, "rpc_overhead_p50_ms": rpc_ms - engine_ms,
        "audit_share_of_rpc": append_ms / rpc_ms,
        "audit_encoding_ms_per_record_outcomes": statistics.median(encoding),
    }


def client_decision(address: str, trial_id: str) -> Any:
    with DoseFindingClient(address, timeout=30.0, retries=0) as client:
        return client.call(client.trials.GetDecision, tpb.GetDecisionRequest(trial_id=trial_id)).decision


def _durable_append_ms(samples: int) -> list[float]:
    """One durable audit append at a time on a temporary store (what each audited call waits for)."""
    from dosefinding_server.audit.log import AuditLog
    from dosefinding_server.audit.records import AuditEntry
    from dosefinding_server.audit.signing import generate_private_key
    from dosefinding_server.storage.sqlite import Database

    with tempfile.TemporaryDirectory(prefix="dosefinding-bench-audit-") as scratch:
        database = Database(Path(scratch) / "audit.sqlite3")
        log = AuditLog(database, generate_private_key())
        times = []
        try:
            for index in range(samples):
                entry = AuditEntry(principal="bench", method="/bench/Append", request=b'{"i":%d}' % index,
                                   response=b"{}", engine_version="bench")
                started = time.perf_counter()
                log.append_durable(entry)
                times.append((time.perf_counter() - started) * 1000)
        finally:
            log.close()
            database.close()
    return times


def run(threads: int = THREADS, cohorts: int = COHORTS) -> list[dict[str, Any]]:
    """Every figure of this benchmark, one row each."""
    with tempfile.TemporaryDirectory(prefix="dosefinding-bench-trials-") as scratch:
        with server_process(Path(scratch) / "data") as server:
            concurrent = record_outcomes(server, threads, cohorts)
            concurrent["meets_target"] = concurrent["decisions_per_second"] > RATE_TARGET
            paced = record_outcomes(server, PACED_CLIENTS, round(RATE_TARGET * PACED_SECONDS / PACED_CLIENTS),
                                    RATE_TARGET)
            paced["meets_target"] = paced["p99_ms"] < P99_TARGET_MS and paced["decisions_per_second"] > 0.98 * RATE_TARGET
            serial = record_outcomes(server, 1, cohorts)
            share = audit_share(server.address)
    return [concurrent, paced, serial, share | {"cpus": os.cpu_count(), "server_processes": SERVER_PROCESSES}]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
