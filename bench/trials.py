"""Trials as a service under load: durable decisions per second and RecordOutcomes latency over loopback.

``run()`` starts ``dosefinding-server --workers 2 --pin-cpus`` (two serving processes, each bound to a
core of its own, as deployed on a host given over to the service; plaintext on loopback, a throw-away
data dir, the audit log on as always) and measures:

* ``record_outcomes``: ``clients`` systems (asyncio tasks of one load generator, see
  :mod:`.trial_load`), each with its own connection and its own trial with a CRM
  design, each recording ``cohorts`` cohorts one after the other at the dose the previous answer
  recommended, as fast as answers come (closed loop: the capacity). Every answer carries the new
  decision and is sent only after the cohort and its audit record are durable (fsynced), so each
  call is one durable decision. Reported: decisions per second over the whole run, client-side
  p50/p99/max latency, and the server's CPU per decision (all its processes). The kernel places
  each new connection on one of the server's processes at random (``SO_REUSEPORT``), and with 8
  connections the split (4/4 or 1/7) moves the capacity by up to half, so the loop runs
  ``CLOSED_LOOP_RUNS`` times on fresh connections: the median run is reported, with every run's rate;
* ``paced``: the latency at a given rate (``PACED_RATES``, the target rate last).
  ``PACED_CLIENTS`` clients together send that many decisions per second on a fixed schedule
  (open loop), and each latency is counted
  from the moment the call was due, not from when a late client got round to sending it, so
  queueing is not hidden (no coordinated omission); how late the generator itself sent the calls
  (``sent_late_*``) is reported too, as that share of the latencies is its own;
* ``p99_bound``: the highest offered rate at which the paced p99 stays under the target (and the
  rate is served), found by halving the interval between the highest paced rate known to meet it and
  the lowest known to miss it (the paced runs above give the first bounds) ``P99_SEARCH_STEPS``
  times: the rate the service can promise the p99 target at, on this machine, as a share of the
  rate target. Each probe is one paced run of at least ``PACED_MIN_DECISIONS`` decisions, so the
  bound is as noisy as one such p99;
* the same closed loop with one client (no queueing: the latency floor);
* ``disk_sync``: the disk's own ``fdatasync`` latency, the floor under every durable commit;
* ``audit_share``: where the time of one decision goes: the engine's fit in-process, the audited
  ``EvaluateDesign`` round trip, and a durable audit append on its own (an ``AuditLog`` on a
  temporary store, one record at a time). The audit cannot be switched off in the server, so its
  share is estimated from these three.

Every row of the first three kinds also gives the server's own view of its calls, from the ``rpc`` events
of its log (the server logs at ``info``, as deployed): the latency inside the server and, within it, the
wait for the durable audit commit (``audit_ms``), p50 and p99. The rest of a client's latency is gRPC,
loopback and the load generator. They also say how busy the whole machine was over the measured calls and
how much of it the hypervisor took (``host_busy_percent``, ``host_steal_percent``, see :mod:`.host`): on a
shared virtual machine those move the figures more than most changes to the service do.

Targets (a 2-core machine, the load generator on it too): over 500 durable decisions per second
(``record_outcomes``), and p99 under 10 ms at that rate (``paced``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from dosefinding.v1 import decision_service_pb2, outcomes_pb2
from dosefinding_client import DoseFindingClient, design_from_stages
from validation.server_process import launch, wait_until_serving

from . import host, trial_load
from .quantiles import percentile
from .server_log import rpc_events
from .trial_load import COHORT_SIZE, CRM, WARMUP_COHORTS

CLIENTS = 8
COHORTS = 60
CLOSED_LOOP_RUNS = 3
SERVER_PROCESSES = 2
#: each serving process bound to a core of its own (``--pin-cpus``)
PIN_CPUS = True
PACED_CLIENTS = 40
PACED_SECONDS = 5.0
#: the fewest decisions a paced run measures, however low its rate: a p99 needs a few hundred samples
PACED_MIN_DECISIONS = 400
#: offered rates of the paced runs: where p99 stays under the target, and the target rate itself
PACED_RATES = (250.0, 400.0, 500.0)
P99_TARGET_MS = 10.0
RATE_TARGET = 500.0
#: halvings of the interval in which the highest rate meeting the p99 target lies, and the rate's grain
P99_SEARCH_STEPS = 4
P99_SEARCH_GRAIN = 5.0
#: share of the offered rate a paced run must serve to count as keeping up with it
SERVED_SHARE = 0.98


@dataclass(frozen=True)
class ServerProcess:
    """A running ``dosefinding-server``: its address and process id."""

    address: str
    pid: int
    log_path: Path

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
        process = launch(data_dir, ready, log, "--log-level", "info", "--workers", str(processes),
                         *(["--pin-cpus"] if PIN_CPUS else []))
    try:
        yield ServerProcess(wait_until_serving(process, ready, log_path), process.pid, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def server_view(log_path: Path, tag: str) -> dict[str, float]:
    """p50 and p99 of the latency and of the audit-commit wait inside the server, over the calls whose request
    ids start with ``tag`` (from the server's ``rpc`` log events)."""
    ours = [event for event in rpc_events(log_path) if str(event.get("request_id", "")).startswith(tag + "-")]
    return {**p50_p99("server_", (event["latency_ms"] for event in ours)),
            **p50_p99("audit_wait_", (event.get("audit_ms") or 0.0 for event in ours))}


def p50_p99(prefix: str, values_ms: Iterable[float]) -> dict[str, float]:
    """``{prefix}p50_ms`` and ``{prefix}p99_ms`` of ``values_ms``."""
    ordered = sorted(values_ms)
    return {f"{prefix}p50_ms": percentile(ordered, 0.50), f"{prefix}p99_ms": percentile(ordered, 0.99)}


def cpu_now(server: ServerProcess) -> tuple[float | None, float, host.CpuTimes | None]:
    """The CPU seconds used so far by the server's processes and by this load generator, and the machine's
    CPU times."""
    return server.cpu_seconds(), time.process_time(), host.read()


def record_outcomes(server: ServerProcess, clients: int, cohorts: int, rate: float | None = None
                    ) -> dict[str, Any]:
    """``clients`` concurrent systems, ``cohorts`` RecordOutcomes each, back to back or together at
    ``rate`` per second; rate, latency (the client's and the server's own), and the CPU of the server, of
    the load generator and of the machine over the measured calls alone (connecting, creating the trials
    and their warm-up cohorts cost CPU too, but are not decisions of the run)."""
    tag = f"bench-{uuid.uuid4().hex[:12]}"
    measured = asyncio.run(trial_load.drive(server.address, clients, cohorts, rate, tag, lambda: cpu_now(server)))
    (server_before, client_before, host_before), (server_after, client_after, host_after) = \
        measured.before, measured.after
    latencies, seconds = sorted(s * 1000 for s in measured.latencies), measured.seconds
    return {
        "benchmark": "record_outcomes" if rate is None else "paced", "clients": clients,
        "offered_per_second": rate, "decisions": len(latencies),
        "decisions_per_second": len(latencies) / seconds,
        **p50_p99("", latencies), "max_ms": latencies[-1],
        **lateness_view(measured.lateness),
        "patients_per_trial": COHORT_SIZE * (WARMUP_COHORTS + cohorts),
        "server_cpu_ms_per_decision": (None if server_before is None or server_after is None
                                       else (server_after - server_before) * 1000 / len(latencies)),
        "load_generator_cpu_ms_per_decision": (client_after - client_before) * 1000 / len(latencies),
        **host.percentages(host_before, host_after),
        **server_view(server.log_path, tag),
    }


def lateness_view(lateness_s: list[float]) -> dict[str, float]:
    """p50/p99 of how late the load generator sent its paced calls (ms; none for a closed loop). A paced
    latency counts from when its call was due, so this part of it is the generator's, not the service's
    (asyncio wakes a sleeping task on whole-millisecond timeouts)."""
    return p50_p99("sent_late_", (s * 1000 for s in lateness_s)) if lateness_s else {}


def paced(server: ServerProcess, rate: float) -> dict[str, Any]:
    """A paced run at ``rate`` decisions per second, ``PACED_SECONDS`` long or as long as ``PACED_MIN_DECISIONS``
    take at that rate."""
    cohorts = max(round(rate * PACED_SECONDS / PACED_CLIENTS), math.ceil(PACED_MIN_DECISIONS / PACED_CLIENTS))
    return record_outcomes(server, PACED_CLIENTS, cohorts, rate)


def meets_p99_target(row: dict[str, Any]) -> bool:
    """Whether a paced run kept p99 under the target while serving the rate offered."""
    return row["p99_ms"] < P99_TARGET_MS and row["decisions_per_second"] > SERVED_SHARE * row["offered_per_second"]


def p99_bound(server: ServerProcess, measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest offered rate at which the p99 target holds, between what the ``measured`` paced runs
    bound it to, by bisection; the probes' rates and p99s come with it."""
    meeting = [row["offered_per_second"] for row in measured if meets_p99_target(row)]
    missing = [row["offered_per_second"] for row in measured if not meets_p99_target(row)]
    highest_meeting, lowest_missing = max(meeting, default=0.0), min(missing, default=math.inf)
    probes = []
    for _ in range(P99_SEARCH_STEPS):
        if lowest_missing == math.inf or lowest_missing - highest_meeting <= P99_SEARCH_GRAIN:
            break
        middle = (highest_meeting + lowest_missing) / 2
        rate = max(P99_SEARCH_GRAIN, round(middle / P99_SEARCH_GRAIN) * P99_SEARCH_GRAIN)
        row = paced(server, rate)
        probes.append([rate, round(row["p99_ms"], 1)])
        if meets_p99_target(row):
            highest_meeting = rate
        else:
            lowest_missing = rate
    return {"benchmark": "p99_bound", "p99_target_ms": P99_TARGET_MS,
            "highest_rate_meeting_p99_target": highest_meeting,
            "lowest_rate_missing_p99_target": lowest_missing if lowest_missing != math.inf else None,
            "share_of_rate_target": highest_meeting / RATE_TARGET, "probes_rate_and_p99_ms": probes}


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
    answer_request, answer = asyncio.run(trial_load.one_cohort(address))
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


def disk_sync(directory: Path, samples: int = 400) -> dict[str, Any]:
    """How long the disk under ``directory`` takes to make a 4 KiB append durable (``fdatasync``): the floor
    of every durable commit, and with group commit a call may wait for two."""
    path = directory / "fsync-probe"
    times = []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(samples):
            os.write(descriptor, bytes(4096))
            started = time.perf_counter()
            os.fdatasync(descriptor)
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)
    finally:
        os.close(descriptor)
        path.unlink()
    times.sort()
    return {"benchmark": "disk_sync", "fdatasync_p50_ms": percentile(times, 0.50),
            "fdatasync_p90_ms": percentile(times, 0.90), "fdatasync_p99_ms": percentile(times, 0.99),
            "fdatasync_max_ms": times[-1]}


def run(clients: int = CLIENTS, cohorts: int = COHORTS) -> list[dict[str, Any]]:
    """Every figure of this benchmark, one row each."""
    with tempfile.TemporaryDirectory(prefix="dosefinding-bench-trials-") as scratch:
        with server_process(Path(scratch) / "data") as server:
            runs = sorted((record_outcomes(server, clients, cohorts) for _ in range(CLOSED_LOOP_RUNS)),
                          key=lambda row: row["decisions_per_second"])
            concurrent = runs[len(runs) // 2] | {
                "decisions_per_second_of_each_run": [round(row["decisions_per_second"]) for row in runs]}
            concurrent["meets_target"] = concurrent["decisions_per_second"] > RATE_TARGET
            paced_rows = []
            for rate in PACED_RATES:
                row = paced(server, rate)
                row["meets_target"] = meets_p99_target(row) if rate == RATE_TARGET else None
                paced_rows.append(row)
            bound = p99_bound(server, paced_rows)
            serial = record_outcomes(server, 1, cohorts)
            share = audit_share(server.address)
        sync = disk_sync(Path(scratch))
    machine = {"cpus": os.cpu_count(), "server_processes": SERVER_PROCESSES, "pin_cpus": PIN_CPUS}
    return [concurrent, *paced_rows, bound, serial, share | machine, sync]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
