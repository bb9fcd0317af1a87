"""``python -m validation evaluate``: send every case through the gRPC API, write the answers.

Output: one JSON line per case, in input order, ``{"id", "actual": {...}}`` or
``{"id", "error": "..."}``.  Calls run concurrently (the order of the output
does not depend on it); nothing is held per case beyond its answer.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from dosefinding_client import DoseFindingClient, ServiceError

from .families import ADAPTERS
from .server_process import local_server

CONCURRENCY = 8


def read_cases(path: Path) -> Iterator[dict[str, Any]]:
    """The cases of a JSON Lines file, one object per non-blank line; a line that is not one is refused by number."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    case = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not JSON: {error}") from None
                if not isinstance(case, dict):
                    raise ValueError(f"{path}:{number}: not a case: a JSON object is expected, not "
                                     f"{type(case).__name__}")
                yield case


def call_adapter(adapter: Callable[[DoseFindingClient, dict[str, Any]], dict[str, Any]],
                 client: DoseFindingClient, case: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The adapter's answer to a case, or why there is none: one case's failure never ends a run."""
    try:
        return adapter(client, case), ""
    except ServiceError as error:
        return None, str(error)
    except Exception as error:  # a malformed case or broken adapter: that case's error
        return None, f"cannot evaluate this case: {type(error).__name__}: {error}"


def answer(client: DoseFindingClient, case: dict[str, Any]) -> dict[str, Any]:
    """The output line of one case; every failure becomes that case's error."""
    case_id = case.get("id")
    adapter = ADAPTERS.get(case.get("family", ""))
    if adapter is None:
        return {"id": case_id, "error": f"unknown family {case.get('family')!r}"}
    actual, error = call_adapter(adapter, client, case)
    return {"id": case_id, "actual": actual} if actual is not None else {"id": case_id, "error": error}


def evaluate(cases: Iterable[dict[str, Any]], client: DoseFindingClient) -> Iterator[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        yield from pool.map(lambda case: answer(client, case), cases)


def run(cases_path: Path, out_path: Path, target: str | None, progress: bool = True) -> int:
    """Evaluate a case file; returns the number of cases answered with an error."""
    started = time.perf_counter()
    errors = total = 0
    cases = list(read_cases(cases_path))
    server = nullcontext(target) if target else local_server()
    with server as address, DoseFindingClient(address, timeout=120.0) as client:
        client.wait_ready()
        with open(out_path, "w", encoding="utf-8") as out:
            for line in evaluate(cases, client):
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                total += 1
                errors += "error" in line
                if progress and total % 500 == 0:
                    print(f"  {total} cases", file=sys.stderr)
    seconds = time.perf_counter() - started
    print(f"evaluated {total} cases in {seconds:.1f} s ({errors} errors) -> {out_path}", file=sys.stderr)
    return errors
