"""Monte Carlo simulation of dose-finding trials.

* :mod:`.compare`: any design pipeline, escalation's way (``simulate_trials``,
  ``simulate_compare``), several designs and scenarios on common random numbers;
* :mod:`.boin_oc`: BOIN's ``get.oc``; :mod:`.crmsim`: dfcrm's ``crmsim``;
* :mod:`.runner` / :mod:`.dask_runner`: chunks of trials in this process, a
  process pool or a Dask cluster, with identical results.
"""

from .boin_oc import BoinOcDesign, BoinOcResult, get_oc
from .compare import ComparisonResult, PairResult, simulate_designs
from .crmsim import CrmSimDesign, CrmSimResult, crmsim
from .estimates import Estimate
from .records import StopReason, Trials
from .runner import LocalRunner, Progress, Runner, final, shared_runner
from .scenario import Scenario, TrialSettings
from .summary import Summary

__all__ = [
    "BoinOcDesign", "BoinOcResult", "ComparisonResult", "CrmSimDesign", "CrmSimResult", "Estimate", "LocalRunner",
    "PairResult", "Progress", "Runner", "Scenario", "StopReason", "Summary", "TrialSettings", "Trials", "crmsim",
    "final", "get_oc", "shared_runner", "simulate_designs",
]
