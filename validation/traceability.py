"""The traceability matrix: every requirement, the evidence that shows it, and that evidence's result.

Requirements and their evidence are declared in ``requirements.toml``.  Each
evidence item gets a status from this run:

* ``pass`` / ``fail`` — it was exercised and agreed, or did not;
* ``not run`` — it exists, but this run did not exercise it (tests without
  ``--run-tests``/``--junit`` or absent from their results, a family
  outside the selected subset, a Monte Carlo family whose simulation is not
  available);
* ``missing`` — it does not exist (a test file, a test its file's results
  do not contain, a family the reference data lacks).

A requirement is ``fail`` if any of its evidence failed, ``pass`` if all of
it passed, ``gap`` if it has no evidence that exists, and otherwise ``not
verified``.  Gaps and unverified requirements are open items of the report
(GAMP 5: every requirement is traced to its verification, or the absence
is visible).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .installation import PROJECT_ROOT
from .unit_tests import matching

REQUIREMENTS_FILE = Path(__file__).resolve().parent / "requirements.toml"
RISKS = ("high", "medium", "low")


def load_requirements(path: Path = REQUIREMENTS_FILE) -> list[dict[str, Any]]:
    """The requirements, checked for the fields every one must have."""
    requirements = tomllib.loads(path.read_text(encoding="utf-8")).get("requirement", [])
    seen: set[str] = set()
    for number, requirement in enumerate(requirements, 1):
        for key in ("id", "text", "risk"):
            if not requirement.get(key):
                raise ValueError(f"{path}: requirement {number} has no {key}")
        if requirement["risk"] not in RISKS:
            raise ValueError(f"{path}: requirement {requirement['id']}: risk must be one of {', '.join(RISKS)}")
        if requirement["id"] in seen:
            raise ValueError(f"{path}: requirement id {requirement['id']} is used twice")
        seen.add(requirement["id"])
    return requirements


def all_tests(requirements: list[dict[str, Any]]) -> list[str]:
    return [entry for r in requirements for entry in r.get("tests", [])]


def _test_status(entry: str, outcomes: dict[str, str] | None) -> tuple[str, str]:
    if not (PROJECT_ROOT / entry.split("::")[0]).exists():
        return "missing", "no such test file"
    if outcomes is None:
        return "not run", "tests were not run (--run-tests) nor read (--junit)"
    found = matching(entry, outcomes)
    if not found:
        if not matching(entry.split("::")[0], outcomes):
            return "not run", "its file is not among the test results"
        return "missing", "no such test among its file's results"
    failed, skipped = found.count("failed"), found.count("skipped")
    detail = f"{len(found)} test cases: {len(found) - failed - skipped} passed, {failed} failed, {skipped} skipped"
    if failed:
        return "fail", detail
    return ("pass", detail) if failed + skipped < len(found) else ("not run", detail)


def _family_status(family: str, families: dict[str, dict[str, Any]], reference: set[str]) -> tuple[str, str]:
    if family not in reference:
        return "missing", "no such family in the reference data"
    result = families.get(family)
    if result is None:
        return "not run", "not in this run's selection of cases"
    return result["status"], result["detail"]


def family_results(operation: dict[str, Any], performance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The status of each family exercised by OQ or PQ."""
    results: dict[str, dict[str, Any]] = {}
    for row in operation["families"]:
        detail = f"{row['cases']} cases: {row['pass']} pass, {row['deviation']} documented deviations, " \
                 f"{row['fail']} fail"
        results[row["family"]] = {"status": "fail" if row["fail"] else "pass", "detail": detail}
    by_family: dict[str, list[str]] = {}
    for case in performance["results"]:
        by_family.setdefault(case["family"], []).append(case["status"])
    for family, statuses in by_family.items():
        status = ("fail" if "fail" in statuses else "pass" if all(s == "pass" for s in statuses)
                  else "not run")
        results[family] = {"status": status, "detail": ", ".join(
            f"{statuses.count(s)} {s}" for s in ("pass", "fail", "not available") if s in statuses)}
    return results


def matrix(requirements: list[dict[str, Any]], checks: dict[str, tuple[str, str]],
           families: dict[str, dict[str, Any]], reference: set[str],
           outcomes: dict[str, str] | None) -> list[dict[str, Any]]:
    """One row per requirement: its evidence with each item's status, and the requirement's status."""
    rows = []
    for requirement in requirements:
        evidence = []
        for family in requirement.get("families", []):
            status, detail = _family_status(family, families, reference)
            evidence.append({"kind": "family", "name": family, "status": status, "detail": detail})
        for check in requirement.get("checks", []):
            status, detail = checks.get(check, ("missing", "no such check"))
            evidence.append({"kind": "check", "name": check, "status": status, "detail": detail})
        for entry in requirement.get("tests", []):
            status, detail = _test_status(entry, outcomes)
            evidence.append({"kind": "test", "name": entry, "status": status, "detail": detail})
        statuses = {e["status"] for e in evidence}
        overall = ("fail" if "fail" in statuses else
                   "gap" if statuses <= {"missing"} else
                   "pass" if statuses == {"pass"} else "not verified")
        rows.append({"id": requirement["id"], "text": requirement["text"], "risk": requirement["risk"],
                     "status": overall, "evidence": evidence})
    return rows
