"""What the audit trail costs: audited decisions per second, and the audit's share of a call's latency.

The server runs as its own process on loopback (as deployed, audit always on).
``EvaluateDesign`` with a CRM design is called by 8 concurrent clients for a
fixed time (audited decisions per second, client-side p50/p95, the server's
CPU time per call), then by one client. The audit's share of latency is shown
three ways:

* directly: the server's ``audit_ms`` (making the audit record and waiting for
  its durable group commit, timed inside the interceptor) against the
  server's ``latency_ms`` for the same calls, from its ``rpc`` log events;
* against the same request answered in-process (the servicer, no gRPC, no
  audit);
* against an unaudited call through the same interceptor and transport,
  ``GetDosePaths`` on the same design and outcomes (one cohort of one: three
  decisions), one client at a time and 8 at once: the audit cost is the
  difference of the two calls' overheads over their in-process times.

Client threads run in this process, on the same machine: on a small machine
the figures under concurrency include the clients' own CPU use.

``python -m bench.audit`` prints the rows; :func:`run` returns them.
"""

from __future__ import annotations

import os
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from google.protobuf.message import Message

from dosefinding.v1 import decision_service_pb2 as dpb
from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import simulation_service_pb2 as spb
from dosefinding_client import DoseFindingClient, design_from_stages
from validation.server_process import launch, wait_until_serving

from .quantiles import percentile
from .server_log import rpc_events

CLIENTS = 8
CONCURRENT_SECONDS = 5.0
SEQUENTIAL_CALLS = 300
WARMUP_CALLS = 20
CRM = {"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}
OUTCOMES = "1NNN 2NNN 3NTN 3NNN 4TNT 3NNN"
EVALUATE = "/dosefinding.v1.DecisionService/EvaluateDesign"
DOSE_PATHS = "/dosefinding.v1.SimulationService/GetDosePaths"


def evaluate_request() -> dpb.EvaluateDesignRequest:
    return dpb.EvaluateDesignRequest(design=design_from_stages([CRM]),
                                     outcomes=outcomes_pb2.Outcomes(outcome_string=OUTCOMES))


def dose_paths_request() -> spb.GetDosePathsRequest:
    return spb.GetDosePathsRequest(design=design_from_stages([CRM]), cohort_sizes=[1],
                                   previous_outcomes=outcomes_pb2.Outcomes(outcome_string=OUTCOMES))


def _environment() -> dict[str, str]:
    """This process's environment without a configuration file or an armed crash-test hook."""
    environment = {k: v for k, v in os.environ.items() if k != "DOSEFINDING_CRASH_AT"}
    environment["DOSEFINDING_CONFIG"] = ""
    return environment


class Server:
    """``dosefinding-server`` in a child process, logging its ``rpc`` events (JSON lines) to a file."""

    def __init__(self, scratch: Path) -> None:
        self.log_path = scratch / "server.log"
        ready = scratch / "ready.json"
        with open(self.log_path, "wb") as log:
            self.process = launch(scratch / "data", ready, log, "--log-level", "info", env=_environment())
        self.address = wait_until_serving(self.process, ready, self.log_path)

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time of the server process so far (Linux ``/proc``; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def rpc_events(self, request_id: str, method: str) -> list[dict[str, Any]]:
        return [event for event in rpc_events(self.log_path)
                if event.get("request_id") == request_id and event["method"] == method]


def _timed_calls(client: DoseFindingClient, stub: Callable[..., Message], request: Message, *, count: int = 0,
                 until: float = 0.0) -> list[float]:
    """Latencies (ms) of ``count`` calls, or of calls until ``time.perf_counter()`` passes ``until``."""
    latencies = []
    while (count and len(latencies) < count) or (until and time.perf_counter() < until):
        started = time.perf_counter()
        client.call(stub, request)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _client(address: str, tag: str) -> DoseFindingClient:
    client = DoseFindingClient(address, timeout=60.0, retries=0, metadata=(("x-request-id", tag),))
    client.wait_ready()
    return client


def _stub(client: DoseFindingClient, method: str) -> Callable[..., Message]:
    return client.decisions.EvaluateDesign if method == EVALUATE else client.simulations.GetDosePaths


def _concurrent(server: Server, method: str, request: Message, tag: str) -> tuple[list[float], float, float | None]:
    """``CLIENTS`` threads calling ``method`` for ``CONCURRENT_SECONDS``: all latencies, the wall time, and the
    server's CPU seconds over it."""
    clients = [_client(server.address, tag) for _ in range(CLIENTS)]
    with _client(server.address, "bench-warmup") as warm:
        _timed_calls(warm, _stub(warm, method), request, count=WARMUP_CALLS)
    results: list[list[float]] = [[] for _ in clients]
    barrier = threading.Barrier(CLIENTS + 1)
    deadline = 0.0

    def work(index: int) -> None:
        barrier.wait()
        results[index] = _timed_calls(clients[index], _stub(clients[index], method), request, until=deadline)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    deadline = started + CONCURRENT_SECONDS
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_after = server.cpu_seconds()
    for client in clients:
        client.close()
    used = cpu_after - cpu if cpu is not None and cpu_after is not None else None
    return [latency for latencies in results for latency in latencies], wall, used


def _in_process_ms(call: Callable[[], Any], count: int) -> list[float]:
    for _ in range(WARMUP_CALLS):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _in_process() -> tuple[list[float], list[float]]:
    """The servicers' own time for the two requests, in this process: no gRPC, no interceptor, no audit."""
    from dosefinding_server.api.calls import Call, enter, leave
    from dosefinding_server.api.decision_service import DecisionService
    from dosefinding_server.api.replay import REPLAYER
    from dosefinding_server.api.simulation_service import SimulationService

    decisions, simulations = DecisionService(), SimulationService()
    evaluate, paths = evaluate_request(), dose_paths_request()

    def decide() -> Message:
        token = enter(Call("bench", EVALUATE, REPLAYER))
        try:
            return decisions.EvaluateDesign(evaluate, None)  # type: ignore[arg-type]
        finally:
            leave(token)

    return (_in_process_ms(decide, SEQUENTIAL_CALLS),
            _in_process_ms(lambda: simulations.GetDosePaths(paths, None), SEQUENTIAL_CALLS))  # type: ignore[arg-type]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="dosefinding-bench-audit-") as scratch:
        server = Server(Path(scratch))
        try:
            concurrent, wall, cpu = _concurrent(server, EVALUATE, evaluate_request(), "bench-concurrent")
            paths_concurrent, paths_wall, paths_cpu = _concurrent(server, DOSE_PATHS, dose_paths_request(),
                                                                  "bench-concurrent")
            with _client(server.address, "bench-sequential") as client:
                _timed_calls(client, client.decisions.EvaluateDesign, evaluate_request(), count=WARMUP_CALLS)
                _timed_calls(client, client.simulations.GetDosePaths, dose_paths_request(), count=WARMUP_CALLS)
                sequential = _timed_calls(client, client.decisions.EvaluateDesign, evaluate_request(),
                                          count=SEQUENTIAL_CALLS)
                paths = _timed_calls(client, client.simulations.GetDosePaths, dose_paths_request(),
                                     count=SEQUENTIAL_CALLS)
        finally:
            server.stop()
        concurrent_events = server.rpc_events("bench-concurrent", EVALUATE)
        sequential_events = server.rpc_events("bench-sequential", EVALUATE)
        paths_events = server.rpc_events("bench-sequential", DOSE_PATHS)
    engine_evaluate, engine_paths = _in_process()

    def server_side(events: list[dict[str, Any]]) -> dict[str, float]:
        latency = statistics.median(e["latency_ms"] for e in events)
        audit = statistics.median(e["audit_ms"] for e in events)
        return {"server_p50_ms": latency, "audit_p50_ms": audit, "audit_share_of_server_p50": audit / latency}

    assert all("audit_ms" not in e for e in paths_events), "GetDosePaths is not audited"
    evaluate_p50, paths_p50 = statistics.median(sequential), statistics.median(paths)
    engine_evaluate_p50, engine_paths_p50 = statistics.median(engine_evaluate), statistics.median(engine_paths)
    audit_by_difference = (evaluate_p50 - engine_evaluate_p50) - (paths_p50 - engine_paths_p50)
    def cpu_per_call(used: float | None, calls: int) -> dict[str, float]:
        return {} if used is None else {"server_cpu_ms_per_call": 1000 * used / calls}

    return [
        {"measure": f"EvaluateDesign (CRM), {CLIENTS} clients, audited", "calls": len(concurrent),
         "decisions_per_second": len(concurrent) / wall, "p50_ms": statistics.median(concurrent),
         "p95_ms": percentile(concurrent, 0.95), **server_side(concurrent_events),
         **cpu_per_call(cpu, len(concurrent))},
        {"measure": f"GetDosePaths (same design and outcomes, 3 decisions), {CLIENTS} clients, not audited",
         "calls": len(paths_concurrent), "calls_per_second": len(paths_concurrent) / paths_wall,
         "p50_ms": statistics.median(paths_concurrent), "p95_ms": percentile(paths_concurrent, 0.95),
         **cpu_per_call(paths_cpu, len(paths_concurrent))},
        {"measure": "EvaluateDesign (CRM), 1 client, audited", "calls": len(sequential), "p50_ms": evaluate_p50,
         "p95_ms": percentile(sequential, 0.95), **server_side(sequential_events)},
        {"measure": "EvaluateDesign in-process (servicer only: no gRPC, no audit)", "calls": len(engine_evaluate),
         "p50_ms": engine_evaluate_p50},
        {"measure": "GetDosePaths (same design and outcomes, 3 decisions), 1 client, not audited",
         "calls": len(paths), "p50_ms": paths_p50, "p95_ms": percentile(paths, 0.95),
         "server_p50_ms": statistics.median(e["latency_ms"] for e in paths_events)},
        {"measure": "GetDosePaths in-process", "calls": len(engine_paths), "p50_ms": engine_paths_p50},
        {"measure": "audit share of the 1-client EvaluateDesign p50, by difference of overheads",
         "audit_ms": audit_by_difference, "share": audit_by_difference / evaluate_p50,
         "evaluate_overhead_ms": evaluate_p50 - engine_evaluate_p50,
         "dose_paths_overhead_ms": paths_p50 - engine_paths_p50},
    ]


if __name__ == "__main__":
    for row in run():
        print("  ".join(f"{k}={v:,.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
