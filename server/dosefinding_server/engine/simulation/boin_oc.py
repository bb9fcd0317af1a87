"""BOIN's ``get.oc``: operating characteristics of the BOIN design as the BOIN package simulates them.

``BOIN::get.oc`` (Liu & Yuan 2015; Yan et al. 2020, J. Stat. Softw. 94(13))
runs its own loop, which differs from escalation's BOIN stage: ``ncohort``
cohorts of ``cohortsize``, the last one cut to the sample size
``ncohort·cohortsize`` and followed by no decision; after each cohort at
dose d with y toxicities among its n patients:

1. if y reaches the elimination boundary, d and every higher dose are
   eliminated, and at dose 1 the trial stops with no dose; with
   ``extrasafe`` (checked only where an elimination boundary exists) the
   trial stops with no dose when dose 1 has n ≥ 3 and Pr(p₁ > φ) >
   ``cutoff_eli − offset``;
2. once n reaches ``n_earlystop``, the trial stops (and selects an MTD) when
   the rule would stay, de-escalate at dose 1, or escalate beyond the top
   or into an eliminated dose;
3. escalate (unless the next dose is eliminated), de-escalate or stay by the
   boundaries λe, λd (:mod:`..numerics.boin_boundary`).

At the end ``select.mtd`` picks the MTD (:func:`..numerics.boin_mtd.mtd_dose`);
a trial stopped early, or with no admissible dose (R's code 99), selects
none.  With ``titration`` the trial first treats one patient per dose,
upwards, until the first toxicity (or every dose), then completes a cohort
at that dose (``cohortsize − 1`` more patients, as BOIN 2.7.2 does, without
the sample-size cut) before the decisions above.

All trials of a chunk run together, one cohort per step, as numpy
operations; each patient's toxicity comes from its own uniform
(:mod:`.randomness`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Iterator

import numpy as np

from ..numerics.boin_boundary import boin_settings, boundary_at, safety_boundary
from ..numerics.boin_mtd import mtd_dose
from ..selector import require
from .estimates import Estimate, column_means, mean, proportion
from .randomness import patient_uniforms
from .records import StopReason, Trials
from .runner import LocalRunner, Progress, Runner, run_jobs
from .summary import StopCount, stop_counts

#: why a get.oc trial ended (``Trials.reasons``)
REASONS = (StopReason("sample_size"), StopReason("dose_1_eliminated"), StopReason("extrasafe"),
           StopReason("n_earlystop"))
SAMPLE_SIZE, ELIMINATED, EXTRASAFE, EARLYSTOP = range(len(REASONS))


@dataclass(frozen=True)
class BoinOcDesign:
    """``get.oc``'s design arguments (R's defaults; ``p_saf``/``p_tox`` None = 0.6/1.4 × target)."""

    target: float
    ncohort: int
    cohortsize: int
    n_earlystop: int = 100
    startdose: int = 1
    titration: bool = False
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    bound_mtd: bool = False

    def __post_init__(self) -> None:
        boin_settings(self.target, self.p_saf, self.p_tox, self.cutoff_eli, self.offset)
        require(self.ncohort >= 1, "ncohort", f"{self.ncohort} is not 1 or more")
        require(1 <= self.cohortsize <= 64, "cohortsize", f"{self.cohortsize} is outside 1..64")
        require(self.npts >= 2, "ncohort", "BOIN's boundaries need a sample size of at least 2")
        require(self.npts <= 10_000, "ncohort", f"a sample size of {self.npts} is more than 10000")
        require(self.n_earlystop >= 1, "n_earlystop", f"{self.n_earlystop} is not 1 or more")
        require(self.startdose >= 1, "startdose", f"{self.startdose} is not 1 or more")

    @property
    def npts(self) -> int:
        return self.ncohort * self.cohortsize

    @property
    def titrates(self) -> bool:
        """R turns titration off for cohorts of one."""
        return self.titration and self.cohortsize > 1

    @property
    def capacity(self) -> int:
        """Patients a trial can draw (the step completing titration is not cut to the sample size)."""
        return self.npts + self.cohortsize

    @cached_property
    def tables(self) -> "_Tables":
        return _Tables.of(self)


@dataclass(frozen=True)
class _Tables:
    """Boundaries indexed by the number of patients at a dose (R's ``b.e``, ``b.d``, ``b.elim``)."""

    escalate: np.ndarray  # escalate when y <= escalate[n]
    deescalate: np.ndarray  # de-escalate when y >= deescalate[n]
    eliminate: np.ndarray  # eliminate when y >= eliminate[n]
    has_eliminate: np.ndarray  # whether R's b.elim[n] is a number
    stop_lowest: np.ndarray  # extra-safe: stop when y >= stop_lowest[n] at dose 1

    @classmethod
    def of(cls, design: BoinOcDesign) -> "_Tables":
        s = boin_settings(design.target, design.p_saf, design.p_tox, design.cutoff_eli, design.offset)
        rows = [boundary_at(n, s.target, s.p_saf, s.p_tox, s.cutoff_eli) for n in range(1, design.capacity + 1)]
        never = design.capacity + 1
        stops = [safety_boundary(s.target, n, s.cutoff_eli - s.offset) for n in range(1, design.capacity + 1)]

        def column(values: list[int | None]) -> np.ndarray:
            return np.array([never] + [never if v is None else v for v in values], dtype=np.int64)

        return cls(
            escalate=column([r.escalate_if_le for r in rows]),
            deescalate=column([r.deescalate_if_ge for r in rows]),
            eliminate=column([r.eliminate_if_ge for r in rows]),
            has_eliminate=np.array([False] + [r.eliminate_if_ge is not None for r in rows]),
            stop_lowest=column(stops),
        )


@dataclass(frozen=True)
class BoinOcJob:
    """``get.oc`` for one true toxicity curve: trials ``start`` to ``stop - 1`` of a run with ``seed``."""

    design: BoinOcDesign
    p_true: tuple[float, ...]
    seed: int

    def __post_init__(self) -> None:
        require(len(self.p_true) >= 1, "p_true", "needs one probability per dose")
        for index, p in enumerate(self.p_true):
            require(0.0 <= p <= 1.0, f"p_true[{index}]", f"{p} is not a probability")
        require(self.design.startdose <= len(self.p_true), "startdose",
                f"dose {self.design.startdose} is outside 1..{len(self.p_true)}")

    def run(self, start: int, stop: int) -> Trials:
        design, k = self.design, len(self.p_true)
        tables = design.tables
        tox_u, _ = patient_uniforms(self.seed, start, stop, design.capacity)
        trials = _TrialState(stop - start, k, design.startdose - 1)
        if design.titrates:
            trials.titrate(tox_u, np.asarray(self.p_true))
        for cohort in range(design.ncohort):
            going = np.flatnonzero(trials.active)
            if not len(going):
                break
            if cohort == 0 and design.titrates:
                self._complete_titration(trials, tox_u, going)
                checked = going
            else:
                checked = self._cohort(trials, tox_u, going)
            self._decide(trials, tables, checked)
        return Trials(self._select(trials), trials.n, trials.y, np.zeros_like(trials.n), trials.reason, REASONS)

    def _cohort(self, trials: "_TrialState", tox_u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """A cohort at each row's dose, cut to the sample size; the rows still to be checked."""
        design = self.design
        size = np.clip(design.npts - trials.used[rows], 0, design.cohortsize)
        trials.treat(rows, size, tox_u, np.asarray(self.p_true))
        full = trials.used[rows] >= design.npts
        trials.end(rows[full], SAMPLE_SIZE)
        return rows[~full]

    def _complete_titration(self, trials: "_TrialState", tox_u: np.ndarray, rows: np.ndarray) -> None:
        """R's first step after titration: ``cohortsize − 1`` more patients at the titration's last dose."""
        size = np.full(len(rows), self.design.cohortsize - 1)
        trials.treat(rows, size, tox_u, np.asarray(self.p_true))

    def _decide(self, trials: "_TrialState", tables: _Tables, rows: np.ndarray) -> None:
        """Elimination, the safety stops, n.earlystop and the move, for the rows just treated."""
        design, top = self.design, len(self.p_true) - 1
        d = trials.dose[rows]
        n, y = trials.n[rows, d], trials.y[rows, d]
        checked = tables.has_eliminate[n]
        eliminate = checked & (y >= tables.eliminate[n])
        trials.eliminated[rows[eliminate]] = np.minimum(trials.eliminated[rows[eliminate]], d[eliminate])
        stop_no_dose = eliminate & (d == 0)
        trials.end(rows[stop_no_dose], ELIMINATED)
        if design.extrasafe:
            lowest_n, lowest_y = trials.n[rows, 0], trials.y[rows, 0]
            extra = checked & ~stop_no_dose & (d == 0) & (lowest_n >= 3) & (lowest_y >= tables.stop_lowest[lowest_n])
            trials.end(rows[extra], EXTRASAFE)
            stop_no_dose |= extra
        trials.early[rows[stop_no_dose]] = True
        escalate_ok, deescalate_ok = y <= tables.escalate[n], y >= tables.deescalate[n]
        blocked = (d == top) | (trials.eliminated[rows] <= d + 1)
        converged = (n >= design.n_earlystop) & (
            (~escalate_ok & ~deescalate_ok) | ((d == 0) & deescalate_ok) | (blocked & escalate_ok))
        trials.end(rows[converged & ~stop_no_dose], EARLYSTOP)
        move = ~stop_no_dose & ~converged
        up = move & escalate_ok & (d != top)
        trials.dose[rows[up & ~blocked]] += 1
        down = move & ~(escalate_ok & (d != top)) & deescalate_ok & (d != 0)
        trials.dose[rows[down]] -= 1

    def _select(self, trials: "_TrialState") -> np.ndarray:
        """``select.mtd`` at the end of each trial not stopped early (0 = no dose)."""
        recommended = np.zeros(len(trials.active), dtype=np.int32)
        for row in np.flatnonzero(~trials.early):
            recommended[row] = _selected(self.design, tuple(trials.n[row].tolist()), tuple(trials.y[row].tolist()))
        return recommended


@lru_cache(maxsize=1 << 16)
def _selected(design: BoinOcDesign, n: tuple[int, ...], y: tuple[int, ...]) -> int:
    """BOIN's MTD for final counts (0: none), once per distinct outcome in a process."""
    mtd = mtd_dose(design.target, n, y, cutoff_eli=design.cutoff_eli, extrasafe=design.extrasafe,
                   offset=design.offset, bound_mtd=design.bound_mtd, p_tox=design.p_tox)
    return mtd or 0


class _TrialState:
    """The running state of a chunk of get.oc trials (R's ``y``, ``n``, ``d``, ``elimi``, ``earlystop``)."""

    def __init__(self, trials: int, doses: int, start: int) -> None:
        self.n = np.zeros((trials, doses), dtype=np.int32)
        self.y = np.zeros((trials, doses), dtype=np.int32)
        self.dose = np.full(trials, start, dtype=np.int64)  # 0-based
        self.used = np.zeros(trials, dtype=np.int64)  # patients so far = index of the next patient's uniform
        self.eliminated = np.full(trials, doses, dtype=np.int64)  # lowest eliminated dose (doses: none)
        self.early = np.zeros(trials, dtype=bool)  # stopped with no dose
        self.active = np.ones(trials, dtype=bool)
        self.reason = np.full(trials, SAMPLE_SIZE, dtype=np.int32)

    def titrate(self, tox_u: np.ndarray, p_true: np.ndarray) -> None:
        """One patient per dose from dose 1 until the first toxicity (R: ``runif(ndose) < p.true``)."""
        doses = len(p_true)
        toxic = tox_u[:, :doses] < p_true
        hit = toxic.any(axis=1)
        first = np.where(hit, toxic.argmax(axis=1), doses - 1)
        self.dose[:] = first
        self.used[:] = first + 1
        self.n[:] = np.arange(doses) <= first[:, None]
        self.y[np.flatnonzero(hit), first[hit]] = 1

    def treat(self, rows: np.ndarray, size: np.ndarray, tox_u: np.ndarray, p_true: np.ndarray) -> None:
        """``size`` more patients at each row's dose, using each row's next uniforms."""
        width = int(size.max(initial=0))
        columns = self.used[rows, None] + np.arange(width)
        taken = np.arange(width) < size[:, None]
        d = self.dose[rows]
        toxic = (tox_u[rows[:, None], np.minimum(columns, tox_u.shape[1] - 1)] < p_true[d, None]) & taken
        self.y[rows, d] += toxic.sum(axis=1, dtype=np.int32)
        self.n[rows, d] += size.astype(np.int32)
        self.used[rows] += size

    def end(self, rows: np.ndarray, reason: int) -> None:
        self.active[rows] = False
        self.reason[rows] = reason


@dataclass(frozen=True)
class BoinOcResult:
    """``get.oc``'s answer (percentages in percent, as R reports them), with Monte Carlo standard errors."""

    ntrial: int
    selpercent: tuple[Estimate, ...]
    npatients: tuple[Estimate, ...]
    ntox: tuple[Estimate, ...]
    totaltox: Estimate
    totaln: Estimate
    percentstop: Estimate
    overdose60: Estimate | None
    overdose80: Estimate | None
    stop_reasons: tuple[StopCount, ...]
    trials: Trials


def summarise_oc(trials: Trials, design: BoinOcDesign, p_true: tuple[float, ...]) -> BoinOcResult:
    """get.oc's summaries; ``overdose60``/``80`` (trials treating more than 60%/80% of the sample size above
    the target) only when a dose's true toxicity equals the target, as in R."""
    percent = 100.0
    overdosed = trials.n_at[:, [p > design.target for p in p_true]].sum(axis=1)
    has_target = any(p == design.target for p in p_true)
    return BoinOcResult(
        ntrial=len(trials),
        selpercent=tuple(proportion(trials.recommended == d).scaled(percent) for d in range(1, len(p_true) + 1)),
        npatients=tuple(column_means(trials.n_at)),
        ntox=tuple(column_means(trials.tox_at)),
        totaltox=mean(trials.tox_at.sum(axis=1)),
        totaln=mean(trials.n_at.sum(axis=1)),
        percentstop=proportion(trials.recommended == 0).scaled(percent),
        overdose60=proportion(overdosed > 0.6 * design.npts).scaled(percent) if has_target else None,
        overdose80=proportion(overdosed > 0.8 * design.npts).scaled(percent) if has_target else None,
        stop_reasons=stop_counts(trials),
        trials=trials,
    )


def get_oc(design: BoinOcDesign, p_true: tuple[float, ...], ntrial: int, seed: int, *,
           runner: Runner | None = None, chunk_size: int | None = None) -> Iterator[Progress | BoinOcResult]:
    """Simulate ``ntrial`` trials of ``get.oc``: progress, then the result."""
    job = BoinOcJob(design, tuple(p_true), seed)
    for event in run_jobs([job], ntrial, runner or LocalRunner(1), chunk_size):
        yield event if isinstance(event, Progress) else summarise_oc(event[0], design, tuple(p_true))
