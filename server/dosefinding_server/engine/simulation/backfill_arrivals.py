"""Backfill patients arriving while escalation cohorts are treated, for a chunk of simulated trials.

While escalation cohort p of a trial is treated, ``per_cohort`` patients
arrive (:class:`.conduct.BackfillArrivals`).  The doses open to them are
those :func:`..backfill.backfill_doses` finds open on the data known when
the cohort starts (outcomes of patients still in their observation window
are not known yet), each with room for ``cap_per_dose`` minus the patients
it has; arrivals are allocated one by one, each by
:func:`..backfill.allocate` among the open doses with room left (the trial's
allocation seed, and the number of backfill patients allocated before, as
the trial service does), and an arrival finding no room is turned away.
Arrival s of period p is backfill arrival ``p·per_cohort + s`` of the
trial and draws that row of the trial's backfill stream
(:mod:`.randomness`), whether or not a dose takes it.

Backfill patients travel through the state graph with their cohort as
small integer codes (:func:`encode`): 0 for no patient, else the dose and
outcome packed as ``1 + 4·(dose − 1) + toxicity + 2·efficacy``.
"""

from __future__ import annotations

from typing import Hashable

import numpy as np

from ..backfill import allocate, backfill_doses
from ..outcomes import BACKFILL, ESCALATION, Outcomes, Patient
from .conduct import BackfillArrivals
from .graph import StateGraph


def encode(doses: np.ndarray, tox: np.ndarray, eff: np.ndarray | None) -> np.ndarray:
    """Patient codes (0 where ``doses`` is 0: nobody)."""
    codes = 1 + 4 * (doses.astype(np.int64) - 1) + tox + (2 * eff if eff is not None else 0)
    return np.where(doses > 0, codes, 0)


def decode(codes: tuple[int, ...], efficacy: bool) -> list[Patient]:
    """The backfill patients of nonzero ``codes``, in order (efficacy ``None`` unless it is read)."""
    return [Patient(1 + (code - 1) // 4, bool((code - 1) & 1), bool((code - 1) & 2) if efficacy else None,
                    phase=BACKFILL) for code in codes if code]


def backfill_state(outcomes: Outcomes, num_doses: int) -> Hashable:
    """What :func:`..backfill.backfill_doses` reads of the outcomes: per dose, escalation patients, all
    patients, toxicities and efficacies (part of a backfill simulation's state key)."""
    escalation = [0] * num_doses
    for patient in outcomes.patients:
        if patient.phase == ESCALATION:
            escalation[patient.dose - 1] += 1
    return (tuple(escalation), tuple(outcomes.n_at_dose(num_doses)), tuple(outcomes.tox_at_dose(num_doses)),
            tuple(outcomes.eff_at_dose(num_doses)))


class Backfilling:
    """The backfill of one chunk of trials: arrivals' uniforms, allocation seeds, allocations so far."""

    def __init__(self, arrivals: BackfillArrivals, uniforms: np.ndarray, seeds: list[int]) -> None:
        self.arrivals = arrivals
        self.uniforms = uniforms  # trials × arrivals × (toxicity, efficacy)
        self.seeds = seeds
        self.allocated = [0] * len(seeds)

    def _room(self, graph: StateGraph, node: int, dose: int) -> tuple[tuple[int, int], ...]:
        """The open doses at ``node`` with escalation at ``dose``, and each one's room (memoised in the graph:
        the rule's key holds what the backfill state reads)."""
        key = ("backfill room", node, dose)
        room = graph.derived.get(key)
        if room is None:
            plan = self.arrivals.plan
            room = graph.derived[key] = tuple(
                (state.dose, plan.cap_per_dose - state.backfilled)
                for state in backfill_doses(plan, graph.states[node], dose, graph.rule.num_doses) if state.open)
        return room

    def period(self, graph: StateGraph, rows: np.ndarray, nodes: np.ndarray, doses: np.ndarray, period: int,
               p_tox: np.ndarray, p_eff: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The arrivals during escalation cohort ``period`` of trials ``rows`` (at ``nodes``, escalating at
        ``doses``): each arrival's dose (0: turned away), toxicity and efficacy, each rows × per_cohort."""
        per_cohort = self.arrivals.per_cohort
        given = np.zeros((len(rows), per_cohort), dtype=np.int64)
        for r, (row, node, dose) in enumerate(zip(rows.tolist(), nodes.tolist(), doses.tolist())):
            room = dict(self._room(graph, node, dose))
            for slot in range(per_cohort):
                open_doses = [d for d, left in room.items() if left > 0]
                if not open_doses:
                    break
                chosen = allocate(open_doses, self.seeds[row], self.allocated[row])
                self.allocated[row] += 1
                room[chosen] -= 1
                given[r, slot] = chosen
        drawn = self.uniforms[rows, period * per_cohort:(period + 1) * per_cohort]
        at = np.maximum(given, 1) - 1
        tox = (drawn[:, :, 0] < p_tox[at]) & (given > 0)
        eff = (drawn[:, :, 1] < p_eff[at]) & (given > 0) if p_eff is not None else np.zeros_like(tox)
        return given, tox, eff
