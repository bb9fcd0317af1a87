"""``report.html``: the validation report for people, rendered from ``report.json``.

The summary comes first: the verdict, the signature's manifestation
(printed name, UTC time and meaning, 21 CFR Part 11 §11.50(b)), the
numbers, the open items and the agreement plot; then IQ, OQ, PQ and the
traceability matrix, and how to verify the report.  The page is one
self-contained file (inline CSS and SVG, no scripts, nothing fetched), so a
reviewer reads it offline exactly as it was signed.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Iterable

from . import plots

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top;overflow-wrap:anywhere} th{background:#f3f3f3} .num{text-align:right}
.verdict{font-size:1.5em;font-weight:bold;padding:.4em .8em;display:inline-block;border-radius:4px;color:#fff}
.PASS{background:#2e7d32} .FAIL{background:#c62828}
.pass{color:#2e7d32;font-weight:bold} .fail{color:#c62828;font-weight:bold} td span{white-space:nowrap}
.deviation,.not-run,.not-verified,.not-available,.gap,.missing,.not-verified-remotely{color:#9a6700;font-weight:bold}
.partial{background:#fff3cd;border:1px solid #9a6700;padding:.5em} .signature{border:1px solid #999;padding:.5em}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:12px;max-height:30em}
figure{margin:1em 0} figcaption{font-size:.9em;color:#555} code{font-size:.95em}
"""


def _status(value: Any) -> str:
    text = str(value)
    return f'<span class="{escape(text.replace(" ", "-"))}">{escape(text)}</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], raw: frozenset[int] = frozenset()) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (already HTML)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell if i in raw else escape(str(cell))}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of names and values, without a header."""
    body = "".join(f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>" for name, value in rows)
    return f"<table><tbody>{body}</tbody></table>"


def _json(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=1))}</pre>"


def _figure(name: str, svg: str, caption: str) -> str:
    return f'<figure class="plot" id="plot-{escape(name)}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _signature(block: dict[str, Any] | None) -> str:
    if block is None:
        return ('<div class="signature" id="signature"><strong>NOT SIGNED.</strong> This report was produced '
                "without a signing key; it is not an approved validation record.</div>")
    return (f'<div class="signature" id="signature"><strong>Electronically signed</strong> by '
            f"<strong>{escape(block['signer'])}</strong> on {escape(block['signed_at'])} (UTC).<br>"
            f"Meaning of the signature: <strong>{escape(block['meaning'])}</strong>.<br>"
            f"Ed25519 key fingerprint (SHA-256): <code>{escape(block['key_id'])}</code></div>")


def _summary(report: dict[str, Any]) -> str:
    s, run, system = report["summary"], report["run"], report["system"]
    partial = "" if run["selection"]["complete"] else (
        '<p class="partial"><strong>Partial run</strong> on a subset of the reference cases '
        f"({escape(json.dumps(run['selection']))}): not a validation of a release.</p>")
    facts = _facts([
        ("system", f"{system['distribution']} {system['version']} (engine {system['engine_version']})"),
        ("server under test", system["target"]),
        ("run", f"{run['started_at']} to {run['finished_at']} (UTC), {run['seconds']:.0f} s, on {run['host']}"),
        ("reference data", report["iq"]["reference"]["provenance"].get("r_version", "")),
    ])
    numbers = _table(["part", "result", "detail"], [
        ("IQ installation", _status("pass" if report["iq"]["ok"] else "fail"),
         escape(f"{len(report['iq']['distributions'])} distributions, {len(report['iq']['project']['files'])} "
                f"project files, {len(report['iq']['reference']['files'])} reference files")),
        ("OQ reference cases", _status("pass" if report["oq"]["ok"] else "fail"),
         escape(f"{s['oq_cases']} cases: {s['oq_pass']} pass, {s['oq_deviation']} documented deviations "
                f"(not counted as passes), {s['oq_fail']} fail")),
        ("PQ operating characteristics", _status(s["pq_oc_status"]),
         escape(f"{s['pq_oc_cases']} cases: {s['pq_oc_pass']} pass, {s['pq_oc_fail']} fail, "
                f"{s['pq_oc_not_available']} not available")),
        ("PQ scripted trial", _status("pass" if report["pq"]["trial_run"]["ok"] else "fail"),
         escape(f"{len(report['pq']['trial_run']['checks'])} checks")),
        ("PQ audit trail", _status(report["pq"]["audit"]["status"]), escape(report["pq"]["audit"]["summary"])),
        ("requirements", _status("fail" if s["requirements"].get("fail") else "pass"),
         escape(", ".join(f"{n} {k}" for k, n in s["requirements"].items()))),
    ], raw=frozenset({1, 2}))
    items = "".join(f"<li>{escape(item)}</li>" for item in report["open_items"]) or "<li>none</li>"
    return (f'<section id="summary"><h2>Summary</h2><p>Verdict: <span class="verdict {report["verdict"]}" '
            f'id="verdict">{report["verdict"]}</span></p>{partial}{_signature(report["signature"])}{facts}'
            f"{numbers}<h3>Open items</h3><ul>{items}</ul>"
            + _figure("agreement", plots.agreement_by_family(report["oq"]["families"]),
                      "Agreement with R by family: share of reference cases that pass, that agree but are "
                      "touched by a documented deviation, and that fail.")
            + "</section>")


def _iq(iq: dict[str, Any]) -> str:
    failures = "".join(f"<li>{escape(f)}</li>" for f in iq["failures"]) or "<li>none</li>"
    dists = _table(["distribution", "version", "location", "files checked against RECORD", "changed"],
                   [(d["name"], d["version"], d["location"], d["files_checked"], "; ".join(d["changed"]) or "none")
                    for d in iq["distributions"]])
    project = iq["project"]
    files = _table(["file", "SHA-256"], [(f["path"], f["sha256"]) for f in project["files"]])
    protos = _table(["proto", "SHA-256"], [(f["path"], f["sha256"]) for f in iq["protos"]["files"]])
    stubs = (_table(["proto", "stub module", "generated from it"],
                    [(f["proto"], f["module"], _status("pass" if f["matches"] else "fail"))
                     for f in iq["stubs"]["files"]], raw=frozenset({2}))
             if iq["stubs"]["checked"] else f"<p>Not checked: {escape(iq['stubs']['why'])}.</p>")
    reference = iq["reference"]
    ref_rows = [(f["file"], f["lines"], f["sha256"], _status("pass" if f["ok"] else "fail"))
                for f in reference["files"]]
    return (f'<section id="iq"><h2>IQ — installation qualification</h2><h3>Problems</h3><ul>{failures}</ul>'
            f"<h3>Platform</h3>{_facts(iq['platform'].items())}"
            f"<h3>Project distribution</h3><p>{escape(project['name'])} {escape(str(project['version']))}"
            f"{' (editable install of ' + escape(str(project.get('source'))) + ')' if project.get('editable') else ''}"
            f"</p><details><summary>SHA-256 of its {len(project['files'])} files</summary>{files}</details>"
            f"<h3>API</h3>{protos}{stubs}"
            f"<h3>Installed distributions</h3><details><summary>{len(iq['distributions'])} distributions, "
            f"each installed file re-hashed against its RECORD</summary>{dists}</details>"
            f"<h3>Reference data</h3><p>Checked against <code>PROVENANCE.json</code> "
            f"(SHA-256 {escape(reference['provenance_sha256'])}).</p>"
            f"{_table(['file', 'lines', 'SHA-256', 'as recorded'], ref_rows, raw=frozenset({3}))}"
            f"<details><summary>Provenance</summary>{_json(reference['provenance'])}</details></section>")


def _failure(failure: dict[str, Any]) -> str:
    problems = "".join(f"<li><code>{escape(p)}</code></li>" for p in failure["problems"])
    return (f'<div class="failure" id="failure-{escape(failure["id"])}"><h4>{escape(failure["id"])} '
            f"({escape(failure['family'])})</h4><ul>{problems}</ul>"
            f"<p>tolerance: <code>{escape(json.dumps(failure.get('tolerance') or {}))}</code> "
            "(fields not listed: exact)</p>"
            f"<details><summary>expected (R) and actual (service)</summary>"
            f"<p>R call: <code>{escape(str(failure.get('r_call')))}</code></p><p>expected</p>"
            f"{_json(failure.get('expected'))}<p>actual</p>{_json(failure.get('actual'))}</details></div>")


def _deviation(entry: dict[str, Any]) -> str:
    cases = ", ".join(f"{c['id']} ({c['status']}"
                      + (f"; default mode {'agrees' if c['default_mode']['agrees'] else 'differs: '}"
                         + "; ".join(c["default_mode"]["problems"]) if "default_mode" in c else "") + ")"
                      for c in entry["cases"]) or "no reference case"
    return (f"<tr><td><code>{escape(entry['id'])}</code></td><td>{escape(entry['source'])}</td>"
            f"<td>{escape(entry['description'])}</td><td>{escape(', '.join(entry['fields']))}</td>"
            f"<td class=num>{len(entry['cases'])}</td><td><details><summary>cases</summary>{escape(cases)}"
            "</details></td></tr>")


def _oq(oq: dict[str, Any]) -> str:
    families = _table(["family", "cases", "pass", "documented deviation", "fail", "cases with r_unstable fields"],
                      [(f["family"], f["cases"], f["pass"], f["deviation"], f["fail"], f["r_unstable_cases"])
                       for f in oq["families"]])
    failures = "".join(_failure(f) for f in oq["failures"]) or "<p>No case failed.</p>"
    deviations = ("<table><thead><tr><th>deviation</th><th>documented in</th><th>what</th><th>fields</th>"
                  "<th>cases</th><th></th></tr></thead><tbody>"
                  + "".join(_deviation(d) for d in oq["deviations"]) + "</tbody></table>")
    return (f'<section id="oq"><h2>OQ — operational qualification</h2><p>{oq["cases"]} deterministic reference '
            "cases sent through the server's gRPC API and judged as the published judge does "
            "(<code>validation/compare.py</code>; FORMAT.md sections 2 and 6). Raw answers: "
            f"<code>{escape(oq['answers_file'])}</code>; every case's status: <code>report.json</code> "
            f"(<code>oq.results</code>).</p>{families}<h3>Failures</h3>{failures}"
            "<h3 id=deviations>Documented deviations</h3><p>Cases a documented deviation touches agree with R on "
            "every compared field; they are listed here and not counted as passes. Fields R gets wrong are "
            "not compared, or compared with R's value corrected (FORMAT.md section 8).</p>"
            f"{deviations}</section>")


def _oc_case(case: dict[str, Any]) -> str:
    head = (f"<h4>{escape(case['id'])} ({escape(case['family'])}): {escape(case['label'])} — "
            f"{_status(case['status'])}</h4><p>R call: <code>{escape(str(case.get('r_call')))}</code></p>")
    if case["published_scenario"]:
        head += ("<p>This scenario is cited from a publication; the R reference reproduces it. The "
                 "publication's own table is not part of the reference data: comparison with it not available.</p>")
    problems = "".join(f"<li><code>{escape(p)}</code></li>" for p in case.get("problems", []))
    if problems:
        head += f"<ul>{problems}</ul>"
    if case.get("components"):
        z = (case.get("tolerance") or {}).get("monte_carlo_z", 4)
        rows = [(c["quantity"], c["component"], c["r"], c["r_se"], c["project"], c["project_se"])
                for c in case["components"]]
        head += (_figure(case["id"], plots.operating_characteristics(case),
                         f"R (blue) and the project (orange) with ±2 Monte Carlo standard errors; a quantity "
                         f"passes when the two differ by at most {z} combined standard errors.")
                 + f"<details><summary>values</summary>"
                 f"{_table(['quantity', 'component', 'R', 'R s.e.', 'project', 'project s.e.'], rows)}</details>")
        head += f"<p>Simulated in {case['seconds']:.1f} s.</p>"
    return f'<div class="oc" id="oc-{escape(case["id"])}">{head}</div>'


def _pq(pq: dict[str, Any]) -> str:
    oc = pq["operating_characteristics"]
    trial, audit = pq["trial_run"], pq["audit"]
    checks = _table(["check", "result", "detail"],
                    [(c["check"], _status("pass" if c["ok"] else "fail"), escape(c["detail"]))
                     for c in trial["checks"]], raw=frozenset({1, 2}))
    cohorts = _table(["cohort", "outcomes before", "dose given", "toxicities", "trace"],
                     [(c["cohort"], c["outcomes"], c.get("dose", "stop"), c.get("toxicities", ""),
                       " | ".join(c.get("trace", []))) for c in trial["cohorts"]])
    audit_rows = [(k, v) for k, v in audit.items() if k != "receipts_missing"]
    missing = "".join(f"<li>{escape(m)}</li>" for m in audit.get("receipts_missing", []))
    return (f'<section id="pq"><h2>PQ — performance qualification</h2><h3>Operating characteristics against R</h3>'
            f"<p>{oc['cases']} Monte Carlo cases: {oc['pass']} pass, {oc['fail']} fail, "
            f"{oc['not_available']} not available (adapters: {escape(str(oc['adapters']))}).</p>"
            + "".join(_oc_case(c) for c in oc["results"])
            + f'<h3 id="trial-run">Scripted trial through TrialService</h3><p>Trial <code>'
            f"{escape(str(trial['trial_id']))}</code>, design <code>{escape(json.dumps(trial['design']))}</code>, "
            f"patients' toxicities by dose <code>{escape(json.dumps(trial['toxicities']))}</code>.</p>"
            f"{checks}{cohorts}<h3 id=audit>Audit trail</h3>{_facts(audit_rows)}"
            + (f"<ul>{missing}</ul>" if missing else "") + "</section>")


def _traceability(trace: dict[str, Any]) -> str:
    rows = []
    for r in trace["matrix"]:
        evidence = "<br>".join(f"{escape(e['kind'])} <code>{escape(e['name'])}</code>: {_status(e['status'])} "
                               f"<small>{escape(e['detail'])}</small>" for e in r["evidence"]) or "none"
        rows.append((r["id"], escape(r["text"]), r["risk"], _status(r["status"]), evidence))
    tests = trace["tests"]
    return (f'<section id="traceability"><h2>Traceability matrix</h2><p>Requirements: '
            f"<code>validation/requirements.toml</code> (SHA-256 {escape(trace['requirements_sha256'])}). "
            f"Test results: {escape(tests['source'])}.</p>"
            f"{_table(['requirement', 'text', 'risk', 'status', 'evidence'], rows, raw=frozenset({1, 3, 4}))}"
            "</section>")


def _how_to_verify() -> str:
    return ('<section id="verify"><h2>How to verify this report</h2><p>With the signer\'s public key, whose '
            "fingerprint you obtained from the signer separately:</p><pre>python -m validation verify REPORT_DIR "
            "--public-key signing.pub</pre><p>It checks the Ed25519 signature of <code>report.dsse.json</code> and "
            "the SHA-256 of every file of the directory, and names anything that changed.</p></section>")


def render(report: dict[str, Any]) -> str:
    """The whole page."""
    system = report["system"]
    title = f"Validation report: {system['distribution']} {system['version']}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            + _summary(report) + _iq(report["iq"]) + _oq(report["oq"]) + _pq(report["pq"])
            + _traceability(report["traceability"]) + _how_to_verify() + "</body></html>\n")
