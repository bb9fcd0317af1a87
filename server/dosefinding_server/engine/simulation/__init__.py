"""Monte Carlo simulation of dose-finding trials.

* :mod:`.compare`: any design pipeline, escalation's way (``simulate_trials``,
  ``simulate_compare``), several designs and scenarios on common random numbers;
* :mod:`.conduct`: escalation only, or with controlled backfill
  (:mod:`.backfill_arrivals`) and randomised expansion (:mod:`.expansion_cohort`),
  compared trial by trial on the same patients;
* :mod:`.boin_oc`: BOIN's ``get.oc``; :mod:`.crmsim`: dfcrm's ``crmsim``;
* :mod:`.runner` / :mod:`.dask_runner`: chunks of trials in this process, a
  process pool or a Dask cluster, with identical results.
"""

from .boin_oc import BoinOcDesign, BoinOcResult, get_oc
from .compare import ComparisonResult, ConductContrast, PairResult, simulate_designs
from .conduct import ESCALATION_ONLY, BackfillArrivals, Conduct, ExpansionCohort
from .crmsim import CrmSimDesign, CrmSimResult, crmsim
from .estimates import Estimate
from .records import StopReason, Trials
from .runner import LocalRunner, Progress, Runner, final, shared_runner
from .scenario import Scenario, TrialSettings
from .summary import Summary

__all__ = [
    "ESCALATION_ONLY", "BackfillArrivals", "BoinOcDesign", "BoinOcResult", "ComparisonResult", "Conduct",
    "ConductContrast", "CrmSimDesign", "CrmSimResult", "Estimate", "ExpansionCohort", "LocalRunner", "PairResult",
    "Progress", "Runner", "Scenario", "StopReason", "Summary", "TrialSettings", "Trials", "crmsim", "final",
    "get_oc", "shared_runner", "simulate_designs",
]
