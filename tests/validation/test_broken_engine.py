"""A validation of a defective engine fails: OQ shows the wrong decision, and the run exits non-zero.

The server under test is started in this process with its DecisionService
wrapped by a test double that flips one decision (the ``stop`` of one
posterior-stopping case), and validated with ``--target``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from dosefinding_server.api.decision_service import DecisionService
from dosefinding_server.api.server import RunningServer, build_server
from dosefinding_server.config import Config
from validation.__main__ import main

#: post-p-00002: n = 35, 17 responses; R (and a correct engine) say: do not stop
FLIPPED_CASE, FLIPPED_INPUT = "post-p-00002", (35, 17)


@pytest.fixture
def broken_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    correct = DecisionService.EvaluatePosteriorStopping

    def flipped(self: DecisionService, request: Any, context: Any) -> Any:
        response = correct(self, request, context)
        if (request.n, request.events) == FLIPPED_INPUT:
            response.stop = not response.stop
        return response

    monkeypatch.setattr(DecisionService, "EvaluatePosteriorStopping", flipped)
    running = build_server(Config(listen="127.0.0.1:0", data_dir=str(tmp_path / "data"), insecure=True))
    yield running
    running.stop(grace=1.0)


def test_the_flipped_decision_fails_oq_and_the_run(broken_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "report"
    status = main(["run", "--out", str(out), "--target", f"127.0.0.1:{broken_server.port}",
                   "--families", "posterior_stopping", "--cases-limit", "3", "--quiet"])
    assert status == 1
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "FAIL"
    assert (report["oq"]["fail"], report["oq"]["pass"]) == (1, 2)
    [failure] = report["oq"]["failures"]
    assert failure["id"] == FLIPPED_CASE
    assert failure["problems"] == ["stop: expected False, got True"]
    assert failure["expected"]["stop"] is False and failure["actual"]["stop"] is True
    assert failure["tolerance"] == {"probability": 1e-09}
    html = (out / "report.html").read_text()
    assert f'id="failure-{FLIPPED_CASE}"' in html and "stop: expected False, got True" in html
    assert report["pq"]["audit"]["mode"] == "remote"
    assert "Partial run" in html
