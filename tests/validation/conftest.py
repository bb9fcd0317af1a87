"""One small validation report per test session, shared by the tests of the report and its signature.

The report is a partial run (``CASES_PER_FAMILY`` cases of each family, as
``--cases-limit`` does) signed with a key made for the session: it has
every section and artifact of a full report in a few seconds.  The Monte
Carlo families are answered by a stand-in for the simulation adapters that
echoes R's estimates (:mod:`tests.validation.support`): these tests are
about the report, not the simulation, and must not wait for thousands of
simulated trials.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from validation.attestation import Signer
from validation.cases import Selection
from validation.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, keygen, load_signing_key
from validation.run import Options, run

from .support import echo_r, install, simulation_module

CASES_PER_FAMILY = 3
SIGNER = "Quality Assurance Reviewer"
MEANING = "Approved for use in protocol VAL-TEST-001"


@dataclass(frozen=True)
class Report:
    directory: Path
    exit_status: int
    public_key: Path
    fingerprint: str


@pytest.fixture(scope="session")
def signed_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    keys = tmp_path_factory.mktemp("keys")
    fingerprint = keygen(keys)
    out = tmp_path_factory.mktemp("report") / "out"
    signer = Signer(SIGNER, MEANING, load_signing_key(keys / PRIVATE_KEY_FILE))
    with pytest.MonkeyPatch.context() as patch:
        install(patch, simulation_module(echo_r()))
        status = run(Options(out, signer=signer, selection=Selection(limit=CASES_PER_FAMILY), progress=False))
    return Report(out, status, keys / PUBLIC_KEY_FILE, fingerprint)


@pytest.fixture
def report_copy(signed_report: Report, tmp_path: Path) -> Path:
    """A copy of the session's report that a test may change."""
    copy = tmp_path / "report"
    shutil.copytree(signed_report.directory, copy)
    return copy
