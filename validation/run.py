"""``python -m validation run``: one command from an installed system to a signed validation report.

Order of work: IQ (what is installed); start the server under test on
loopback with its own store (or use ``--target``); OQ (every deterministic
reference case through gRPC); PQ (operating characteristics against R, a
scripted trial through ``TrialService``, then the audit trail verified);
the traceability matrix (with the test results of ``--run-tests``, run
alongside, or of ``--junit``); then ``report.json``, ``report.html`` and
the signature envelope ``report.dsse.json`` in the output directory.

The output directory must be new or empty: everything in it is covered by
the signature (21 CFR Part 11 §11.70), so nothing stale may be.  The exit
status is 0 for a PASS verdict, 1 for FAIL.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dosefinding_client import DoseFindingClient

from . import audit_check, html_report, installation, operation, performance, trial_run, unit_tests
from .attestation import Signer, seal, signature_block, statement
from .cases import Selection, load
from .digests import sha256_file
from .progress import Progress
from .server_process import local_server
from .traceability import REQUIREMENTS_FILE, all_tests, family_results, load_requirements, matrix

REPORT_FORMAT = "dosefinding-validation-report/1"
CALL_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class Options:
    """What ``python -m validation run`` was asked to do."""

    out_dir: Path
    target: str | None = None
    signer: Signer | None = None
    selection: Selection = field(default_factory=Selection)
    run_tests: bool = False
    junit: Path | None = None
    progress: bool = True
    reference_dir: Path = installation.REFERENCE_DIR


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _test_outcomes(options: Options, started: unit_tests.TestRun | None,
                   failures: list[str]) -> tuple[dict[str, str] | None, str]:
    """The test results (or ``None``) and where they came from."""
    if started is not None:
        status = started.wait()
        if status not in (0, 1) or not started.junit.exists():
            failures.append(f"the pytest run exited with status {status} (interrupted, an internal or usage "
                            "error, or no tests collected)")
        source = f"pytest run by this validation on {len(started.files)} test files (exit status {status})"
        try:
            return (unit_tests.read_junit(started.junit) if started.junit.exists() else {}), source
        except ValueError as error:
            failures.append(f"the pytest run's results cannot be read: {error}")
            return {}, source
    if options.junit is not None:
        shutil.copyfile(options.junit, options.out_dir / unit_tests.JUNIT_FILE)
        return (unit_tests.read_junit(options.out_dir / unit_tests.JUNIT_FILE),
                f"read from {options.junit} (copied as {unit_tests.JUNIT_FILE})")
    return None, "not run (neither --run-tests nor --junit)"


def _checks(iq: dict[str, Any], trial: dict[str, Any], audit: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The named checks requirements may cite, with their status and a detail."""
    stubs = iq["stubs"]
    return {
        "iq": ("pass" if iq["ok"] else "fail", "; ".join(iq["failures"]) or "installation intact"),
        "iq:reference": ("fail" if iq["reference"]["problems"] else "pass",
                         "; ".join(iq["reference"]["problems"]) or "every file as recorded in PROVENANCE.json"),
        "iq:stubs": (("fail" if stubs["problems"] else "pass") if stubs["checked"] else "not run",
                     "; ".join(stubs["problems"]) or stubs.get("why", "stubs generated from the proto files")),
        "pq:trial-run": ("pass" if trial["ok"] else "fail",
                         f"{sum(c['ok'] for c in trial['checks'])}/{len(trial['checks'])} checks pass"),
        "pq:audit": ({"pass": "pass", "fail": "fail"}.get(audit["status"], "not run"), audit["summary"]),
    }


def _open_items(options: Options, oc: dict[str, Any], trace: list[dict[str, Any]], audit: dict[str, Any],
                iq: dict[str, Any]) -> list[str]:
    """What this report does not show, for the reviewer to weigh."""
    items = []
    if not options.selection.complete:
        items.append("partial run: only a subset of the reference cases was used")
    if options.signer is None:
        items.append("the report is not signed")
    items += [f"PQ {c['id']} ({c['family']}): not available: {'; '.join(c['problems'])}"
              for c in oc["results"] if c["status"] == performance.NOT_AVAILABLE]
    items += [f"PQ {c['id']}: the published table of the scenario it cites is not in the reference data"
              for c in oc["results"] if c["published_scenario"]]
    if audit["status"] not in ("pass", "fail"):
        items.append(f"audit trail: {audit['status']}")
    if not iq["stubs"]["checked"]:
        items.append(f"IQ: stubs not checked against the proto files: {iq['stubs']['why']}")
    items += [f"requirement {r['id']} ({r['risk']} risk): {r['status']}" for r in trace
              if r["status"] in ("gap", "not verified")]
    return items


def _verdict(iq: dict[str, Any], oq: dict[str, Any], oc: dict[str, Any], trial: dict[str, Any],
             audit: dict[str, Any], trace: list[dict[str, Any]], failures: list[str]) -> str:
    failed = (not iq["ok"] or not oq["ok"] or not oc["ok"] or not trial["ok"] or audit["status"] == "fail"
              or any(r["status"] == "fail" for r in trace) or failures)
    return "FAIL" if failed else "PASS"


def _exercise(options: Options, families: dict[str, list[dict[str, Any]]], progress: Progress
              ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """OQ, PQ and the audit check against the server under test."""
    with tempfile.TemporaryDirectory(prefix="dosefinding-validation-") as scratch:
        data_dir = Path(scratch) / "server-data"
        server = nullcontext(options.target) if options.target else local_server(data_dir)
        with server as address, DoseFindingClient(address, timeout=CALL_TIMEOUT_SECONDS) as client:
            progress.say(f"server under test: {address}" + ("" if options.target else " (started by this run)"))
            client.wait_ready(timeout=30.0)
            oq = operation.qualify(client, families, options.out_dir, progress)
            oc = performance.qualify(client, families, progress)
            progress.say("PQ: scripted trial through TrialService")
            trial = trial_run.run(client)
            audit = audit_check.verify_remote(client) if options.target else None
        if audit is None:
            progress.say("PQ: verifying the server's audit trail offline")
            audit = audit_check.verify_offline(data_dir, trial["receipts"])
    return oq, oc, trial, audit


def run(options: Options) -> int:
    """Run the validation and write the signed report; 0 when the verdict is PASS, 1 when FAIL."""
    out = options.out_dir
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is not a directory")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: a report is written into a new or empty directory")
    families = load(options.reference_dir, options.selection)
    if options.junit is not None and not unit_tests.read_junit(options.junit):
        raise ValueError(f"{options.junit} holds no test cases")
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(options.progress)
    started_at = _utc_now()
    requirements = load_requirements()
    tests = (unit_tests.start(unit_tests.cited_test_files(all_tests(requirements)), out) if options.run_tests else None)
    if tests is not None:
        progress.say(f"tests: pytest started on {len(tests.files)} files in the background")
    try:
        progress.say("IQ: interpreter, distributions, project files, protos and stubs, reference data")
        iq = installation.qualify(options.reference_dir)
        oq, oc, trial, audit = _exercise(options, families, progress)
    except BaseException:
        if tests is not None:
            tests.stop()
        raise
    failures: list[str] = []
    outcomes, tests_source = _test_outcomes(options, tests, failures)
    trace = matrix(requirements, _checks(iq, trial, audit), family_results(oq, oc),
                   {p.stem for p in options.reference_dir.glob("*.jsonl")}, outcomes)
    verdict = _verdict(iq, oq, oc, trial, audit, trace, failures)
    finished_at = _utc_now()
    block = signature_block(options.signer, finished_at)
    reference = iq["reference"]
    reference_digests = {"PROVENANCE.json": reference["provenance_sha256"], "FORMAT.md": reference["format_sha256"],
                         **{f["file"]: f["sha256"] for f in reference["files"]}}
    report = {
        "format": REPORT_FORMAT,
        "verdict": verdict,
        "signature": block,
        "system": {"distribution": iq["project"]["name"], "version": iq["project"]["version"],
                   "engine_version": trial["engine_version"] or "unknown",
                   "target": options.target or "a server started by this run on loopback, with its own store"},
        "run": {"started_at": started_at, "finished_at": finished_at, "seconds": progress.elapsed,
                "host": platform.node(), "command": sys.argv, "selection": options.selection.describe()},
        "summary": {
            "oq_cases": oq["cases"], "oq_pass": oq["pass"], "oq_deviation": oq["deviation"], "oq_fail": oq["fail"],
            "pq_oc_cases": oc["cases"], "pq_oc_pass": oc["pass"], "pq_oc_fail": oc["fail"],
            "pq_oc_not_available": oc["not_available"],
            "pq_oc_status": "fail" if oc["fail"] else "pass" if oc["pass"] == oc["cases"] else "not available",
            "requirements": {s: sum(r["status"] == s for r in trace)
                             for s in ("pass", "fail", "not verified", "gap")},
        },
        "failures": failures,
        "open_items": _open_items(options, oc, trace, audit, iq),
        "reference_digests": reference_digests,
        "iq": iq,
        "oq": oq,
        "pq": {"operating_characteristics": oc, "trial_run": trial, "audit": audit},
        "traceability": {"requirements_sha256": sha256_file(REQUIREMENTS_FILE),
                         "tests": {"source": tests_source,
                                   "file": unit_tests.JUNIT_FILE if outcomes is not None else None},
                         "matrix": trace},
    }
    progress.say("writing report.json and report.html")
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "report.html").write_text(html_report.render(report), encoding="utf-8")
    seal(out, statement(out, block, verdict, reference_digests), options.signer)
    progress.say(f"verdict {verdict}: OQ {oq['pass']} pass, {oq['deviation']} deviations, {oq['fail']} fail; "
                 f"PQ {oc['pass']} pass, {oc['fail']} fail, {oc['not_available']} not available; "
                 f"report in {out}" + ("" if options.signer else " (NOT SIGNED)"))
    return 0 if verdict == "PASS" else 1
