"""dfcrm's ``crmsim``: the CRM simulated as dfcrm simulates it.

``dfcrm::crmsim`` (Cheung 2011, *Dose Finding by the Continual Reassessment
Method*, ch. 5 and 8) treats ``n`` patients in cohorts of ``mcohort``:

* one-stage (scalar ``x0``): the first cohort at ``x0``, then each cohort at
  the CRM's dose for all outcomes so far (``method = "mle"`` is refused, as
  in R);
* two-stage (``x0`` a full initial design of ``n`` levels): follow ``x0``
  until a cohort has a toxicity, then the CRM; while every patient so far
  had a toxicity the fit is Bayesian with prior scale 500 (the MLE does not
  exist);
* with ``restrict`` the CRM's dose is limited to the last dose when the
  last cohort's toxicity rate reached the target (coherence), else to one
  above it (no skipping);
* the final recommendation and β estimate come from a fit to all ``n``
  patients; with ``method = "mle"`` and no or only toxicities it is the
  scale-500 Bayesian fit instead (R's "mle is approximated").

Fits reuse dfcrm's numerics (:mod:`..numerics.dfcrm`).  The simulation walks one
patient at a time (a level of ``x0`` can change within a cohort), through a
state graph whose states are the per-dose counts, the last dose and the
toxicities in the current cohort, which is all a decision reads; the
Bayesian fits of the new states of a step are integrated together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Hashable, Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import InputError
from ..numerics.dfcrm import (
    DEFAULT_SCALE,
    EMPIRIC,
    METHODS,
    Tallies,
    WorkingModel,
    check_scale,
    check_target,
    fit_tallies,
    posterior_mean_var,
    select_mtd,
)
from ..selector import require
from .estimates import Estimate, column_means, mean, proportion, standard_deviation
from .graph import GRAPHS_PER_PROCESS, Cohort, Rule, Step, graph_for
from .randomness import patient_uniforms
from .records import StopReason, Trials, label_reasons
from .runner import LocalRunner, Progress, Runner, run_jobs
from .scenario import MAX_TRIAL_PATIENTS, Scenario
from .summary import StopCount, stop_counts
from .walk import Limits, walk

#: the prior scale of dfcrm's fallback fit when the MLE does not exist
FLAT_SCALE = 500.0
FINISHED, APPROXIMATED = StopReason("sample_size"), StopReason("sample_size_mle_approximated")
#: a fit without partially weighted patients (the TITE-CRM's)
_NO_PARTIAL = (np.empty(0, dtype=np.intp), np.empty(0), np.empty(0))


@dataclass(frozen=True)
class CrmSimDesign(Rule):
    """``crmsim``'s design arguments; ``x0`` is a start level or an initial design of ``n`` levels."""

    prior: tuple[float, ...]
    target: float
    n: int
    x0: int | tuple[int, ...]
    mcohort: int = 1
    restrict: bool = True
    method: str = "bayes"
    model: str = EMPIRIC
    intcpt: float = 3.0
    scale: float = DEFAULT_SCALE
    efficacy: bool = field(default=False, init=False)
    exchangeable: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prior", tuple(self.prior))
        self.working_model  # validates prior, model and intcpt
        check_target(self.target)
        check_scale(self.scale)
        require(self.method in METHODS, "method", f"{self.method!r} is not one of {', '.join(METHODS)}")
        require(1 <= self.mcohort <= 16, "mcohort", f"{self.mcohort} is outside 1..16")
        require(1 <= self.n <= MAX_TRIAL_PATIENTS, "n", f"{self.n} is outside 1..{MAX_TRIAL_PATIENTS}")
        require(self.n % self.mcohort == 0, "n", f"{self.n} patients is not a multiple of the cohort size")
        levels = self.x0 if isinstance(self.x0, tuple) else (self.x0,)
        for index, level in enumerate(levels):
            require(1 <= level <= self.num_doses, f"x0[{index}]", f"level {level} is outside 1..{self.num_doses}")
        if self.two_stage:
            require(len(levels) == self.n, "x0", f"an initial design needs n = {self.n} levels, not {len(levels)}")
        else:
            require(self.method == "bayes", "method", "a one-stage CRM (scalar x0) needs method bayes (R: "
                                                      "'Require an initial design for mle-CRM')")

    @cached_property
    def working_model(self) -> WorkingModel:
        return WorkingModel.calibrated(self.prior, self.model, self.intcpt)

    @property
    def num_doses(self) -> int:  # type: ignore[override]
        return len(self.prior)

    @property
    def two_stage(self) -> bool:
        return isinstance(self.x0, tuple)

    def _level(self, position: int) -> int:
        """The initial design's level for patient ``position`` (0-based), or the start level."""
        return self.x0[position] if isinstance(self.x0, tuple) else self.x0

    def initial(self) -> "CrmState":
        zeros = (0,) * self.num_doses
        return CrmState(zeros, zeros, 0, 0)

    def extend(self, state: "CrmState", cohort: Cohort) -> "CrmState":
        dose, patients = cohort
        tox, n, current = list(state.tox), list(state.n), state.cohort_tox
        for toxic, _ in patients:
            if sum(n) % self.mcohort == 0:
                current = 0
            n[dose - 1] += 1
            tox[dose - 1] += toxic
            current += toxic
        return CrmState(tuple(tox), tuple(n), dose, current)

    def key(self, state: "CrmState") -> Hashable:
        return state

    def steps(self, states: Sequence["CrmState"]) -> list[Step]:
        plans = [self._plan(state) for state in states]
        fits = iter(_crm_fits(self, [(state.tox, state.n, plan.method, plan.scale)
                                     for state, plan in zip(states, plans) if isinstance(plan, _Fit)]))
        return [self._finish(state, plan, *next(fits)) if isinstance(plan, _Fit) else plan
                for state, plan in zip(states, plans)]

    def _plan(self, state: "CrmState") -> "Step | _Fit":
        """The decision at ``state``, or the fit it waits for."""
        n, toxicities = sum(state.n), sum(state.tox)
        if n == self.n:
            approximate = self.method == "mle" and toxicities in (0, self.n)
            return _Fit("bayes", FLAT_SCALE, True, True) if approximate else _Fit(self.method, self.scale, True)
        if n == 0:
            return Step(self._level(0), True)
        mid_cohort = n % self.mcohort != 0
        if self.two_stage and toxicities - (state.cohort_tox if mid_cohort else 0) == 0:
            return Step(self._level(n), True)
        if mid_cohort:
            return Step(state.last, True)
        all_toxic = self.two_stage and toxicities == n
        return _Fit("bayes", FLAT_SCALE) if all_toxic else _Fit(self.method, self.scale)

    def _finish(self, state: "CrmState", fit: "_Fit", dose: int, estimate: float) -> Step:
        """The decision at ``state`` once ``fit`` gave its dose and estimate of β."""
        if fit.final:
            return Step(dose, False, APPROXIMATED if fit.approximated else FINISHED, estimate)
        if self.restrict:
            dose = min(dose, state.last if state.cohort_tox / self.mcohort >= self.target else state.last + 1)
        return Step(dose, True)


class _Fit(NamedTuple):
    """A fit a decision waits for: ``dfcrm::crm(..., var.est = FALSE)`` by ``method`` with prior ``scale``;
    the final one, possibly the scale-500 Bayesian stand-in for the MLE (``approximated``)."""

    method: str
    scale: float
    final: bool = False
    approximated: bool = False


#: a fit's data and settings: toxicities and patients per dose, method, prior scale
_FitRequest = tuple[tuple[int, ...], tuple[int, ...], str, float]


def _crm_fits(design: CrmSimDesign, requests: Sequence[_FitRequest]) -> list[tuple[int, float]]:
    """The CRM's dose and estimate of β for each request (crmsim needs no variance), each computed once per
    process (states that differ only in the last dose or cohort share it); the Bayesian fits missing are
    integrated together.  The scale-500 grid's exp overflows harmlessly."""
    memo = _fit_memo(design)
    missing = list(dict.fromkeys(request for request in requests if request not in memo))
    for method, scale in dict.fromkeys(request[2:] for request in missing):
        group = [request for request in missing if request[2:] == (method, scale)]
        tox = np.array([request[0] for request in group], dtype=float)
        nontox = np.array([request[1] for request in group], dtype=float) - tox
        with np.errstate(over="ignore"):
            if method == "bayes":
                estimates = posterior_mean_var(design.working_model, scale, tox, nontox)[0].tolist()
            else:
                estimates = [fit_tallies(design.working_model, design.target, Tallies(t, n, *_NO_PARTIAL),
                                         scale=scale, method=method).estimate for t, n in zip(tox, nontox)]
        for request, estimate in zip(group, estimates):
            memo[request] = (select_mtd(design.working_model.prob(estimate), design.target), estimate)
    return [memo[request] for request in requests]


@lru_cache(maxsize=GRAPHS_PER_PROCESS)
def _fit_memo(design: CrmSimDesign) -> dict[_FitRequest, tuple[int, float]]:
    """This process's fits for ``design`` (kept for as many designs as it keeps graphs)."""
    return {}


class CrmState(NamedTuple):
    """Toxicities and patients per dose, the last dose (0: none) and the toxicities in the current cohort."""

    tox: tuple[int, ...]
    n: tuple[int, ...]
    last: int
    cohort_tox: int


@dataclass(frozen=True)
class CrmSimJob:
    """``crmsim`` for the true toxicity probabilities ``PI``: trials ``start`` to ``stop - 1``."""

    design: CrmSimDesign
    pi: tuple[float, ...]
    seed: int

    def __post_init__(self) -> None:
        if len(self.pi) != self.design.num_doses:
            raise InputError("PI", f"has {len(self.pi)} doses; prior has {self.design.num_doses}")
        Scenario(self.pi)

    def run(self, start: int, stop: int) -> Trials:
        tox_u, eff_u = patient_uniforms(self.seed, start, stop, self.design.n)
        graph = graph_for(self.design)
        with graph.lock:
            ended = walk(graph, Scenario(self.pi), Limits(1, self.design.n), tox_u, eff_u)
            steps = [graph.steps[node] for node in ended.node.tolist()]
        codes, table = label_reasons([step.stopped_by for step in steps])
        return Trials(
            recommended=np.array([step.dose for step in steps], dtype=np.int32),
            n_at=ended.n_at, tox_at=ended.tox_at, eff_at=ended.eff_at, reason=codes, reasons=table,
            estimate=np.array([step.estimate for step in steps], dtype=float),
        )


@dataclass(frozen=True)
class CrmSimResult:
    """``crmsim``'s answer: selection proportions (R's ``MTD``), mean patients and toxicities per dose
    (``level``, ``tox``), the final estimate's mean and standard deviation, with standard errors."""

    nsim: int
    mtd: tuple[Estimate, ...]
    level: tuple[Estimate, ...]
    tox: tuple[Estimate, ...]
    final_est_mean: Estimate
    final_est_sd: Estimate
    mle_approximated: int
    stop_reasons: tuple[StopCount, ...]
    trials: Trials


def summarise_crmsim(trials: Trials) -> CrmSimResult:
    """crmsim's summaries of the simulated trials."""
    assert trials.estimate is not None
    reasons = trials.stop_reasons()
    return CrmSimResult(
        nsim=len(trials),
        mtd=tuple(proportion(trials.recommended == d) for d in range(1, trials.num_doses + 1)),
        level=tuple(column_means(trials.n_at)),
        tox=tuple(column_means(trials.tox_at)),
        final_est_mean=mean(trials.estimate),
        final_est_sd=standard_deviation(trials.estimate),
        mle_approximated=sum(r == APPROXIMATED for r in reasons),
        stop_reasons=stop_counts(trials),
        trials=trials,
    )


def crmsim(design: CrmSimDesign, pi: tuple[float, ...], nsim: int, seed: int, *,
           runner: Runner | None = None, chunk_size: int | None = None) -> Iterator[Progress | CrmSimResult]:
    """Simulate ``nsim`` trials of ``crmsim``: progress, then the result."""
    job = CrmSimJob(design, tuple(pi), seed)
    for event in run_jobs([job], nsim, runner or LocalRunner(1), chunk_size):
        yield event if isinstance(event, Progress) else summarise_crmsim(event[0])

