"""The Python client's own settings: a deadline and a retry count that cannot work are refused at once; a server
that cannot be reached is the client's own error, not gRPC's."""

from __future__ import annotations

import grpc
import pytest

from dosefinding_client import DoseFindingClient, ServiceError
from tests.support import EXAMPLES


@pytest.mark.parametrize("settings, words", [
    ({"timeout": 0.0}, "timeout: 0.0 is not a number of seconds above 0"),
    ({"timeout": -5.0}, "timeout: -5.0 is not a number of seconds above 0"),
    ({"timeout": float("nan")}, "timeout: nan is not"),
    ({"timeout": float("inf")}, "timeout: inf is not"),
    ({"retries": -1}, "retries: -1 is not 0 or more"),
])
def test_settings_that_cannot_work_are_refused_by_name(settings: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        DoseFindingClient("127.0.0.1:1", **settings)  # type: ignore[arg-type]


def test_the_command_refuses_a_deadline_that_cannot_work(run) -> None:
    code, out, err = run("--timeout", "0", "evaluate", str(EXAMPLES / "crm.json"), "1NNN")
    assert (code, out) == (2, "") and err == "dosefinding: timeout: 0.0 is not a number of seconds above 0\n"


def test_waiting_for_a_server_that_is_not_there_ends_in_an_unavailable_service_error() -> None:
    with DoseFindingClient("127.0.0.1:1") as client, pytest.raises(ServiceError) as refused:
        client.wait_ready(timeout=0.2)
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
    assert str(refused.value) == "UNAVAILABLE: no connection to 127.0.0.1:1 within 0.2 s"
