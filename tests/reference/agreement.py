"""Reference agreement through the public gRPC API, one pytest item per published case."""

from __future__ import annotations

from typing import Any

import pytest

from dosefinding_client import DoseFindingClient
from tests.engine.reference import load_cases
from validation.compare import compare_case
from validation.families import ADAPTERS


def cases_of(family: str) -> Any:
    """Parametrisation over a family's cases, each named by its id."""
    cases = load_cases(family)
    return pytest.mark.parametrize("case", cases, ids=[c["id"] for c in cases])


def assert_agrees(client: DoseFindingClient, case: dict[str, Any]) -> None:
    actual = ADAPTERS[case["family"]](client, case)
    problems = compare_case(case, actual)
    assert not problems, f"{case['id']} ({case.get('r_call', '')[:200]}): " + "; ".join(problems[:5])
