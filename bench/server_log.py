"""The server's ``rpc`` log events (one JSON object per line), as the service benchmarks read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def rpc_events(log_path: Path) -> Iterator[dict[str, Any]]:
    """Every ``rpc`` event in the server's log at ``log_path``; lines that are not JSON are skipped."""
    for line in log_path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "rpc":
            yield event
