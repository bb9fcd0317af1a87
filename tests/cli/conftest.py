"""The ``run`` fixture: the ``dosefinding`` command against the session's server, output captured."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosefinding_client.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run(server, capsys):
    def invoke(*argv: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke
