"""Start the service under test in its own process on a free loopback port."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

START_TIMEOUT_SECONDS = 60.0


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
            process = subprocess.Popen(
                [sys.executable, "-m", "dosefinding_server.main", "--listen", "127.0.0.1:0", "--insecure",
                 "--data-dir", str(store), "--ready-file", str(ready), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT_SECONDS
                while (address := _announced(ready)) is None:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        output = log_path.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"the server did not start:\n{output}")
                    time.sleep(0.02)
                yield address
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
