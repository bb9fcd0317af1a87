"""The crash test hook is inert unless the process environment arms it, and refuses a misspelt point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dosefinding_server.audit import crashpoints


def run_python(code: str, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != crashpoints.ENVIRONMENT_VARIABLE}
    if crash_at is not None:
        environment[crashpoints.ENVIRONMENT_VARIABLE] = crash_at
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=environment)


def test_without_the_environment_variable_every_point_is_a_no_op() -> None:
    if os.environ.get(crashpoints.ENVIRONMENT_VARIABLE):
        pytest.skip("this process was started with the hook armed")
    for point in sorted(crashpoints.POINTS):
        for _ in range(3):
            crashpoints.reached(point)  # still alive


def test_an_armed_point_kills_the_process_at_its_nth_hit_and_no_other_point_does() -> None:
    code = ("from dosefinding_server.audit import crashpoints as c\n"
            "c.reached('before_commit'); c.reached('signing_checkpoint')\n"
            "print('after 1', flush=True)\n"
            "c.reached('after_commit'); print('after 2', flush=True)\n"
            "c.reached('after_commit'); print('after 3', flush=True)\n")
    done = run_python(code, "after_commit:2")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split("\n")[:2] == ["after 1", "after 2"] and "after 3" not in done.stdout


@pytest.mark.parametrize("value", ["before-commit", "after_commit:0", "after_commit:x", "signing"])
def test_a_misspelt_point_stops_the_process_at_start(value: str) -> None:
    done = run_python("import dosefinding_server.audit.log", value)
    assert done.returncode == 1 and "DOSEFINDING_CRASH_AT" in done.stderr
