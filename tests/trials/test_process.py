"""The server as a process: health during shutdown, SIGTERM, restart on the same store, the insecure guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_client import DoseFindingClient, ServiceError
from dosefinding_client.addresses import is_loopback
from dosefinding_server import main as server_main
from dosefinding_server.api.server import TRUSTED_CHECKPOINT_FILE, build_server
from dosefinding_server.config import Config
from validation.server_process import launch, server_command, wait_until_serving

from .support import OPEN_ENDED, Writer, cohort, connect, create, history, record

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
#: Further connections a test may open until a call lands on each of two processes.
EXTRA_CONNECTIONS = 40


def test_health_turns_not_serving_when_shutdown_begins(tmp_path: Path) -> None:
    server = build_server(Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True))
    stopped = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service="dosefinding.v1.TrialService"), timeout=30)
        assert next(watch).status == SERVING
        stopper = threading.Thread(target=lambda: (server.stop(grace=10.0), stopped.set()))
        stopper.start()
        assert next(watch).status == NOT_SERVING, "the watcher hears NOT_SERVING before the server goes away"
        assert not stopped.is_set(), "the watch is still in flight, so the grace period is still running"
        try:
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == NOT_SERVING
        except grpc.RpcError as error:  # or it no longer accepts calls at all (refused or cancelled at once)
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error
        watch.cancel()  # the last call in flight ends: the server stops without waiting out the grace period
        assert stopped.wait(timeout=8.0), "stop() returns once no call is in flight"
    stopper.join(timeout=5)
    assert (tmp_path / TRUSTED_CHECKPOINT_FILE).exists()


@contextmanager
def server_process(data_dir: Path, log_path: Path, workers: int = 1, *flags: str
                   ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``dosefinding-server`` (with ``flags``) on a free loopback port; yields the process and its address once
    it serves."""
    ready = data_dir.parent / f"ready-{time.monotonic_ns()}.json"
    with open(log_path, "ab") as log:
        process = launch(data_dir, ready, log, "--log-level", "info", "--workers", str(workers), *flags)
    try:
        yield process, wait_until_serving(process, ready, log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def log_records(log_path: Path) -> list[dict]:
    records = []
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "event" in record:
            records.append(record)
    return records


def log_events(log_path: Path) -> list[str]:
    return [record["event"] for record in log_records(log_path)]


def served_by(log_path: Path) -> set[int]:
    """The processes that answered calls, by their log events."""
    return {record["pid"] for record in log_records(log_path) if record["event"] == "rpc"}


def test_sigterm_exits_cleanly_and_the_store_reopens(tmp_path: Path) -> None:
    data_dir, first_log, second_log = tmp_path / "data", tmp_path / "first.log", tmp_path / "second.log"
    with server_process(data_dir, first_log) as (process, address):
        with DoseFindingClient(address, timeout=30.0, retries=0) as client:
            client.wait_ready()
            trial = create(client).trial
            recorded = record(client, trial, 1, cohort("t", [False, False, False]))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert "shutting_down" in log_events(first_log)
    assert (data_dir / TRUSTED_CHECKPOINT_FILE).exists()

    with server_process(data_dir, second_log) as (process, address):
        with DoseFindingClient(address, timeout=30.0, retries=0) as client:
            history = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
            assert history.trial == recorded.trial
            assert history.events[-1].audit_sequence == recorded.audit.sequence
            again = record(client, history.trial, recorded.decision.recommended_dose, cohort("u", [False]))
            assert again.audit.sequence > recorded.audit.sequence
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    events = log_events(second_log)
    assert "audit_log_verified" in events, "the restarted server verified the log before serving"
    assert "audit_log_unsigned_tail" not in events, "the first run signed its last records before exiting"


def test_two_processes_serve_one_port_one_store_and_one_audit_log(tmp_path: Path) -> None:
    """--workers 2: both processes answer, writers racing on one trial from both keep its history whole,
    SIGTERM stops both, and the primary's last checkpoint covers every record (the restart verifies it)."""
    data_dir, first_log, second_log = tmp_path / "data", tmp_path / "first.log", tmp_path / "second.log"
    writers_per_trial, cohorts = 4, 3
    with server_process(data_dir, first_log, workers=2) as (process, address):
        with connect(address) as setup:
            trials = [create(setup, OPEN_ENDED).trial for _ in range(2)]
        with ExitStack() as stack:
            writers = [Writer(f"w{n}", stack.enter_context(connect(address)), trial.trial_id, cohorts)
                       for trial in trials for n in range(writers_per_trial)]
            races = {trial.trial_id: threading.Barrier(writers_per_trial) for trial in trials}
            running = [threading.Thread(target=w.run, args=(races[w.trial_id],)) for w in writers]
            for thread in running:
                thread.start()
            for thread in running:
                thread.join(timeout=120)
            assert all(w.error is None for w in writers), [w.error for w in writers]
            histories = [history(writers[0].client, t.trial_id) for t in trials]
        for _ in range(EXTRA_CONNECTIONS):  # the kernel places connections at random: 9 share a process 1 time in 256
            if len(served_by(first_log)) == 2:
                break
            with connect(address) as extra:
                history(extra, trials[0].trial_id)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    for events in histories:
        assert [e.version for e in events.events] == list(range(1, writers_per_trial * cohorts + 2))
        recorded = [p.patient_id for e in events.events[1:] for p in e.cohort.patients]
        assert len(recorded) == len(set(recorded)) == 3 * writers_per_trial * cohorts, "every cohort exactly once"
    lines = first_log.read_text().splitlines()
    assert len(log_records(first_log)) == len(lines), "every line is one whole event: the processes' lines never mix"
    served = served_by(first_log)
    assert len(served) == 2, f"calls were answered by {len(served)} process(es)"
    assert process.pid in served

    with server_process(data_dir, second_log) as (process, address):
        with connect(address) as client:
            assert history(client, trials[0].trial_id) == histories[0]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    events = log_events(second_log)
    assert "audit_log_verified" in events and "audit_log_unsigned_tail" not in events


def test_a_killed_primary_takes_its_workers_and_audit_writer_with_it(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with server_process(tmp_path / "data", log_path, workers=2) as (process, _):
        workers = {r["pid"] for r in log_records(log_path)} - {process.pid}
        assert len(workers) == 2, "the worker and the audit writer logged their start"
        process.kill()
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers):
            assert time.monotonic() < deadline, "a further process outlived its primary"
            time.sleep(0.05)


def test_a_dead_audit_writer_stops_the_server_and_no_call_waits_for_it(tmp_path: Path) -> None:
    """Without its writer the server cannot commit: a call fails at once instead of hanging, the primary
    notices and stops (an orchestrator restarts it whole), and the restarted server verifies the log."""
    data_dir, log_path = tmp_path / "data", tmp_path / "server.log"
    with server_process(data_dir, log_path, workers=2) as (process, address):
        with connect(address) as client:
            trial = create(client, OPEN_ENDED).trial
            writer = next(r["pid"] for r in log_records(log_path) if r["event"] == "audit_writer_started")
            os.kill(writer, signal.SIGKILL)
            with pytest.raises(ServiceError) as failed:
                record(client, trial, 1, cohort("a", [False]))
            assert failed.value.code in (grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE)
        assert process.wait(timeout=30) == 1
    assert any(r["event"] == "process_exited" and r["process"] == "dosefinding-audit-writer"
               for r in log_records(log_path))
    with server_process(data_dir, tmp_path / "restart.log", workers=2) as (process, address):
        with connect(address) as client:
            assert history(client, trial.trial_id).trial.version == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert "audit_log_verified" in log_events(tmp_path / "restart.log")


def test_a_client_is_asked_to_reconnect_after_max_connection_age_and_loses_no_call(tmp_path: Path) -> None:
    """A connection is not kept for ever (with several processes, an unlucky spread of clients does not last);
    the client reconnects by itself, without retries of its own, and every call is answered."""
    log_path = tmp_path / "server.log"
    with server_process(tmp_path / "data", log_path, 2, "--max-connection-age", "0.2") as (process, address):
        with connect(address) as client:
            trial = create(client, OPEN_ENDED).trial
            for _ in range(30):
                client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    connections = {r["caller"] for r in log_records(log_path) if r.get("method", "").endswith("/GetTrial")}
    assert len(connections) > 1, "the calls of 1.5 s came over more than one connection"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "zombie"


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:50051", "example.org:50051"])
def test_insecure_is_refused_off_loopback(tmp_path: Path, listen: str, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    assert server_main.serve(Config(listen=listen, data_dir=str(data_dir), insecure=True), None) == 2
    assert "loopback" in capsys.readouterr().err
    assert not data_dir.exists(), "nothing is opened or written before the refusal"


def test_the_command_refuses_insecure_off_loopback(tmp_path: Path) -> None:
    done = subprocess.run(server_command() + ["--insecure", "--listen", "0.0.0.0:0", "--data-dir",
                                              str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DOSEFINDING_CONFIG": ""})
    assert done.returncode == 2, done.stderr
    assert "not a loopback address" in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "127.1.2.3:80", "localhost:0", "[::1]:0"])
def test_loopback_addresses_are_recognised(listen: str) -> None:
    assert is_loopback(listen)
