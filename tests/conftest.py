"""Shared fixtures: a real server on a loopback port and a real client."""

from __future__ import annotations

from typing import Iterator

import pytest

from dosefinding_client import DoseFindingClient
from dosefinding_server.api.server import RunningServer, build_server
from dosefinding_server.logging import configure_logging

configure_logging("warning")


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    running = build_server("127.0.0.1:0")
    yield running
    running.stop(grace=1.0)


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[DoseFindingClient]:
    with DoseFindingClient(f"127.0.0.1:{server.port}", timeout=60.0) as connected:
        connected.wait_ready()
        yield connected
