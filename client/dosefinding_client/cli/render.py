"""Plain-text tables for people; the ``--json`` option prints the proto's JSON mapping instead."""

from __future__ import annotations

from typing import Any, Sequence

from dosefinding.v1 import decision_pb2

from ..fields import optional


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def decision(message: decision_pb2.Decision) -> str:
    """A Decision as a reviewer reads it: the answer, the per-dose table, then the trace."""
    dose = optional(message, "recommended_dose")
    lines = [
        f"Recommended dose: {dose if dose is not None else 'none'}    "
        f"Continue: {yes_no(message.continue_trial)}    Patients: {message.num_patients}",
        "",
    ]
    quantiles = [q.p for q in message.doses[0].prob_tox_quantiles] if message.doses else []
    thresholds = [e.threshold for e in message.doses[0].prob_tox_exceeds] if message.doses else []
    headers = (["dose", "patients", "tox", "mean p(tox)", "median"] + [f"q{p:g}" for p in quantiles]
               + [f"P(tox>{t:g})" for t in thresholds] + ["admissible"])
    rows = [
        [d.dose, d.patients, d.toxicities, number(optional(d, "mean_prob_tox")),
         number(optional(d, "median_prob_tox"))]
        + [number(optional(q, "value")) for q in d.prob_tox_quantiles]
        + [number(optional(e, "probability")) for e in d.prob_tox_exceeds]
        + [yes_no(optional(d, "admissible"))]
        for d in message.doses
    ]
    lines += [table(headers, rows), "", "Decision trace:"]
    for step in message.trace:
        answer = f"dose {step.dose}" if step.HasField("dose") else "no dose"
        verdict = "continue" if step.continue_trial else "stop"
        lines.append(f"  {step.index}  {step.stage:<26} -> {answer}, {verdict}: {step.reason}")
    lines += [f"WARNING: {w}" for w in message.warnings]
    return "\n".join(lines)
