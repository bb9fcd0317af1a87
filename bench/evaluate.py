"""End-to-end time of ``python -m validation evaluate`` on every published deterministic case."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from validation.compare import is_stochastic
from validation.evaluate import run as run_evaluate

REFERENCE = Path(__file__).resolve().parents[1] / "validation" / "reference"


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as scratch:
        cases = Path(scratch) / "cases.jsonl"
        count = 0
        with open(cases, "w", encoding="utf-8") as out:
            for path in sorted(REFERENCE.glob("*.jsonl")):
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip() and not is_stochastic(json.loads(line)):
                        out.write(line + "\n")
                        count += 1
        started = time.perf_counter()
        errors = run_evaluate(cases, Path(scratch) / "out.jsonl", None, progress=False)
        seconds = time.perf_counter() - started
    return [{"cases": count, "seconds": seconds, "cases_per_second": count / seconds, "errors": errors}]
