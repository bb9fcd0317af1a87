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
def local_server() -> Iterator[str]:
    """Run ``dosefinding-server`` on 127.0.0.1 with a throw-away data dir; yield its address."""
    with tempfile.TemporaryDirectory(prefix="dosefinding-validation-") as scratch:
        ready = Path(scratch) / "ready.json"
        log = open(Path(scratch) / "server.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "dosefinding_server.main", "--listen", "127.0.0.1:0", "--insecure",
             "--data-dir", str(Path(scratch) / "data"), "--ready-file", str(ready),
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    output = (Path(scratch) / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the server did not start:\n{output}")
                time.sleep(0.02)
            yield json.loads(ready.read_text())["address"]
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
