"""Shared fixtures: a real server on a loopback port and a real client."""

from __future__ import annotations

from typing import Iterator

import pytest

from dosefinding_client import DoseFindingClient
from dosefinding_client.cli import main
from dosefinding_server.api.server import RunningServer, build_server
from dosefinding_server.config import Config
from dosefinding_server.logging import configure_logging

configure_logging("warning")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server on a loopback port, in insecure local mode, with its own store."""
    data_dir = tmp_path_factory.mktemp("server-data")
    running = build_server(Config(listen="127.0.0.1:0", data_dir=str(data_dir), insecure=True))
    yield running
    running.stop(grace=1.0)


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[DoseFindingClient]:
    with DoseFindingClient(f"127.0.0.1:{server.port}", timeout=60.0) as connected:
        connected.wait_ready()
        yield connected


@pytest.fixture
def run(server: RunningServer, capsys: pytest.CaptureFixture[str]):
    """The ``dosefinding`` command against the session's server: ``run(*argv) -> (code, out, err)``."""
    def invoke(*argv: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke
