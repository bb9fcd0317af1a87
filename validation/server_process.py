"""Start the service under test in its own process on a free loopback port.

:func:`launch` and :func:`wait_until_serving` are also how the test suite and the benchmarks start a
server process (with their own flags), so every harness starts it as a deployment would: through the
``dosefinding-server`` entry point, plaintext on loopback, the address announced in a ready file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Mapping

START_TIMEOUT_SECONDS = 60.0


def server_command() -> list[str]:
    """The ``dosefinding-server`` script installed beside this interpreter (its module where there is none)."""
    script = Path(sys.executable).with_name("dosefinding-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dosefinding_server.main"]


def launch(data_dir: Path, ready: Path, log: IO[bytes], *flags: str,
           env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``dosefinding-server`` (with ``flags``) on a free loopback port, in insecure mode, on ``data_dir``; its
    output goes to ``log`` and it writes its address to ``ready`` once it serves (see :func:`wait_until_serving`)."""
    return subprocess.Popen(
        server_command() + ["--listen", "127.0.0.1:0", "--insecure", "--data-dir", str(data_dir),
                            "--ready-file", str(ready), *flags],
        stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_until_serving(process: subprocess.Popen[bytes], ready: Path, log_path: Path,
                       timeout: float = START_TIMEOUT_SECONDS) -> str:
    """The address ``process`` announces in ``ready`` once it serves.

    Raises :class:`RuntimeError` with the exit code and the tail of its log (``log_path``) if it exits
    first or does not serve within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while (address := _announced(ready)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            output = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server did not start (exit code {process.poll()}):\n{output}")
        time.sleep(0.02)
    return address


@contextmanager
def local_server(data_dir: Path | None = None) -> Iterator[str]:
    """Run ``dosefinding-server`` on 127.0.0.1 and yield its address.

    The server keeps its store and audit signing key in ``data_dir``, or in a
    throw-away directory when none is given.  On leaving, the server is
    stopped with SIGTERM, so it signs a last audit checkpoint and closes its
    store: ``data_dir`` can then be verified offline.
    """
    with tempfile.TemporaryDirectory(prefix="dosefinding-validation-") as scratch:
        ready = Path(scratch) / "ready.json"
        log_path = Path(scratch) / "server.log"
        store = data_dir if data_dir is not None else Path(scratch) / "data"
        with open(log_path, "wb") as log:
            process = launch(store, ready, log, "--log-level", "warning")
            try:
                yield wait_until_serving(process, ready, log_path)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _announced(ready: Path) -> str | None:
    """The address in the server's ready file, or ``None`` while it is absent or half written."""
    try:
        return str(json.loads(ready.read_text())["address"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None
