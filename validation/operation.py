"""Operational qualification (OQ): every deterministic reference case through the server's gRPC API.

Each case goes through the public API exactly as ``python -m validation
evaluate`` sends it (:func:`.evaluate.evaluate`, the adapters of
:mod:`.families`) and is judged exactly as the published judge judges it
(:func:`.compare.compare_case`).  A case is

* ``fail`` — an error, or any disagreement (shown with expected, actual
  and tolerance);
* ``deviation`` — it agrees on every compared field, but a documented
  deviation touches it (:mod:`.deviations`): listed apart, never a pass;
* ``pass`` — otherwise.

The raw answers are written to ``oq-answers.jsonl`` in the format of
``evaluate``, so a reviewer can re-judge them offline with the published
judge.  Monte Carlo families are performance qualification's
(:mod:`.performance`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from dosefinding_client import DoseFindingClient

from . import deviations
from .compare import compare_case, is_stochastic
from .evaluate import evaluate
from .progress import Progress

Case = dict[str, Any]
ANSWERS_FILE = "oq-answers.jsonl"
PROGRESS_EVERY = 500


def _judge(case: Case, line: dict[str, Any]) -> dict[str, Any]:
    """The per-case result: status, the deviations touching it, and for a failure all a reviewer needs."""
    applied = deviations.applied(case)
    problems = [line["error"]] if "error" in line else compare_case(case, line["actual"])
    status = "fail" if problems else "deviation" if applied else "pass"
    result: dict[str, Any] = {"id": case["id"], "family": case["family"], "status": status}
    if applied:
        result["deviations"] = [a.id for a in applied]
    if problems:
        result.update(problems=problems, expected=case["expected"], actual=line.get("actual"),
                      tolerance=case.get("tolerance") or {}, r_call=case.get("r_call"))
    return result


def _catalogue(cases: Iterable[Case], results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every documented deviation with the cases it touches (project deviations even when it touches none)."""
    catalogue: dict[str, dict[str, Any]] = {
        d.id: {"id": d.id, "source": d.source, "description": d.description, "cases": [], "fields": []}
        for d in deviations.PROJECT_DEVIATIONS}
    for case in cases:
        for applied in deviations.applied(case):
            if applied.id not in catalogue:
                catalogue[applied.id] = dict(deviations.describe_r_defect(case, applied.fields[0]),
                                             cases=[], fields=[])
            entry = catalogue[applied.id]
            entry["cases"].append({"id": case["id"], "status": results[case["id"]]["status"]})
            entry["fields"] = sorted(set(entry["fields"]) | set(applied.fields))
    return catalogue


def _alternatives(client: DoseFindingClient, cases: list[Case], catalogue: dict[str, dict[str, Any]]) -> None:
    """Evaluate the default-mode alternative of each case a deviation with one touches; record the outcome."""
    by_id = {case["id"]: case for case in cases}
    for deviation in deviations.PROJECT_DEVIATIONS:
        if deviation.alternative is None:
            continue
        entry = catalogue[deviation.id]
        alternatives = [deviation.alternative(by_id[c["id"]]) for c in entry["cases"]]
        for touched, alternative, line in zip(entry["cases"], alternatives, evaluate(alternatives, client)):
            problems = [line["error"]] if "error" in line else compare_case(alternative, line["actual"])
            touched["default_mode"] = {"agrees": not problems, "problems": problems}


def qualify(client: DoseFindingClient, families: dict[str, list[Case]], out_dir: Path,
            progress: Progress) -> dict[str, Any]:
    """Run every deterministic case; write the answers; return the OQ section of the report."""
    cases = [case for family in families.values() for case in family if not is_stochastic(case)]
    results: dict[str, dict[str, Any]] = {}
    progress.say(f"OQ: {len(cases)} reference cases of {len({c['family'] for c in cases})} families "
                 "through the gRPC API")
    failed = 0
    with open(out_dir / ANSWERS_FILE, "w", encoding="utf-8") as answers:
        for number, (case, line) in enumerate(zip(cases, evaluate(cases, client)), 1):
            answers.write(json.dumps(line, separators=(",", ":")) + "\n")
            results[case["id"]] = _judge(case, line)
            failed += results[case["id"]]["status"] == "fail"
            if number % PROGRESS_EVERY == 0 or number == len(cases):
                progress.say(f"OQ: {number}/{len(cases)} cases, {failed} failed")
    catalogue = _catalogue(cases, results)
    _alternatives(client, cases, catalogue)
    summary = []
    for family in sorted({c["family"] for c in cases}):
        mine = [c for c in cases if c["family"] == family]
        counts = Counter(results[c["id"]]["status"] for c in mine)
        summary.append({"family": family, "cases": len(mine), "pass": counts["pass"],
                        "deviation": counts["deviation"], "fail": counts["fail"],
                        "r_unstable_cases": sum(1 for c in mine if c.get("r_unstable"))})
    totals = Counter(r["status"] for r in results.values())
    return {
        "ok": totals["fail"] == 0,
        "cases": len(cases),
        "pass": totals["pass"],
        "deviation": totals["deviation"],
        "fail": totals["fail"],
        "families": summary,
        "failures": [r for r in results.values() if r["status"] == "fail"],
        "deviations": list(catalogue.values()),
        "results": [{k: r[k] for k in ("id", "family", "status", "deviations") if k in r}
                    for r in results.values()],
        "answers_file": ANSWERS_FILE,
    }

