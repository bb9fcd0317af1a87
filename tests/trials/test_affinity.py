"""``pin_cpus``: each serving process bound to a CPU of its own, the audit writer left free."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dosefinding_server.affinity import cpu_plan
from dosefinding_server.config import ConfigError
from validation.server_process import launch

from .support import OPEN_ENDED, cohort, connect, create, record_as_recommended
from .test_process import log_records, server_process

ALLOWED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
needs_two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="binding two processes apart needs two CPUs")


def thread_cpus(pid: int) -> list[set[int]]:
    """The CPUs each thread of process ``pid`` may run on."""
    return [os.sched_getaffinity(int(thread.name)) for thread in Path(f"/proc/{pid}/task").iterdir()]


def test_the_plan_gives_each_process_a_cpu_of_its_own_the_primary_first() -> None:
    plan = cpu_plan(len(ALLOWED))
    assert plan == ALLOWED, "the CPUs this server may run on, each once, in order"
    assert cpu_plan(1) == ALLOWED[:1]


def test_more_processes_than_cpus_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=rf"pin_cpus: {len(ALLOWED) + 1} serving processes, but only "
                                          rf"{len(ALLOWED)} CPUs"):
        cpu_plan(len(ALLOWED) + 1)


def test_the_command_refuses_more_workers_than_cpus_before_starting_anything(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = launch(tmp_path / "data", tmp_path / "ready.json", log, "--workers", str(len(ALLOWED) + 1),
                         "--pin-cpus")
    assert process.wait(timeout=60) == 2
    output = log_path.read_text()
    assert "pin_cpus" in output and "CPUs to bind them to" in output
    assert not (tmp_path / "data").exists(), "refused before the data directory was touched"


def test_every_thread_is_bound_those_running_before_and_those_started_after() -> None:
    """Bound in a process of its own: binding this one would leave the test run on one CPU."""
    cpu = ALLOWED[-1]
    script = f"""
import os, threading
from dosefinding_server.affinity import pin_this_process
gate = threading.Event()
before = threading.Thread(target=gate.wait)
before.start()
pin_this_process({cpu})
after = threading.Thread(target=gate.wait)
after.start()
threads = os.listdir("/proc/self/task")
print(sorted({{tuple(os.sched_getaffinity(int(t))) for t in threads}}), len(threads))
gate.set()
"""
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert finished.stdout.split() == [f"[({cpu},)]", "3"]


@needs_two_cpus
def test_a_pinned_server_binds_primary_and_worker_apart_and_leaves_the_audit_writer_free(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with server_process(tmp_path / "data", log_path, 2, "--pin-cpus") as (process, address):
        with connect(address) as client:
            trial = create(client, OPEN_ENDED).trial
            for index in range(3):  # calls start request threads: they are bound too
                trial = record_as_recommended(client, trial, cohort(f"p{index}", [False, False, False])).trial
        records = log_records(log_path)
        serving = next(r for r in records if r["event"] == "serving")
        worker = next(r for r in records if r["event"] == "worker_started")
        writer = next(r for r in records if r["event"] == "audit_writer_started")
        assert serving["pid"] == process.pid and serving["cpus"] == ALLOWED[:2]
        assert worker["cpu"] == ALLOWED[1]
        assert all(cpus == {ALLOWED[0]} for cpus in thread_cpus(process.pid))
        assert all(cpus == {ALLOWED[1]} for cpus in thread_cpus(worker["pid"]))
        assert all(cpus == set(ALLOWED) for cpus in thread_cpus(writer["pid"])), "the audit writer runs anywhere"
        assert trial.version == 4
