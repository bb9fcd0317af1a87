"""Test results as traceability evidence: run the selected pytest subset, or read a JUnit XML file.

The requirements name pytest files and node ids as evidence
(``requirements.toml``).  A validation run gets their results one of two
ways, both recorded in the report and signed with it:

* ``--run-tests``: run the test files the requirements name with pytest
  (``--junitxml`` into the report directory), in parallel with the rest of
  the run.  ``tests/validation`` is left out: those tests run validations
  themselves;
* ``--junit FILE``: read the results of a test run made elsewhere (e.g.
  ``make test`` in CI), copied into the report directory.

Without either, test evidence is "not run".  Node ids are rebuilt from
JUnit's ``classname`` (dotted module path, then classes) and ``name``.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from .installation import PROJECT_ROOT

JUNIT_FILE = "tests.junit.xml"
#: tests that run validations themselves, never run from inside one
NOT_FROM_A_RUN = "tests/validation/"


@dataclass(frozen=True)
class TestRun:
    """A pytest run started in the background: wait for it, then read its results."""

    process: subprocess.Popen[bytes]
    junit: Path
    files: tuple[str, ...]

    def wait(self) -> int:
        return self.process.wait()

    def stop(self) -> None:
        """End the run early (the validation failed to complete)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


def cited_test_files(evidence: list[str]) -> list[str]:
    """The distinct existing test files named by evidence entries, minus those that run validations."""
    files = sorted({entry.split("::")[0] for entry in evidence})
    return [f for f in files if not f.startswith(NOT_FROM_A_RUN) and (PROJECT_ROOT / f).exists()]


def start(files: list[str], out_dir: Path) -> TestRun:
    """Run pytest on ``files`` in the background, writing JUnit XML into ``out_dir``."""
    junit = out_dir / JUNIT_FILE
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *files],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return TestRun(process, junit, tuple(files))


def _node_id(classname: str, name: str) -> str:
    """``tests.api.test_x.TestY`` + ``test_z[1]`` -> ``tests/api/test_x.py::TestY::test_z[1]``."""
    parts = classname.split(".")
    for split in range(len(parts), 0, -1):
        module = "/".join(parts[:split]) + ".py"
        if (PROJECT_ROOT / module).exists():
            return "::".join([module, *parts[split:], name])
    return "::".join(["/".join(parts) + ".py", name])


def read_junit(path: Path) -> dict[str, str]:
    """Each test case's node id and outcome (``passed``, ``failed`` or ``skipped``); a file that is not XML is a
    ``ValueError`` naming it."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path} is not JUnit XML: {error}") from None
    outcomes: dict[str, str] = {}
    for case in root.iter("testcase"):
        node = _node_id(case.get("classname", ""), case.get("name", ""))
        children = {child.tag for child in case}
        outcomes[node] = ("failed" if children & {"failure", "error"} else
                          "skipped" if "skipped" in children else "passed")
    return outcomes


def matching(entry: str, outcomes: dict[str, str]) -> list[str]:
    """The outcomes of the test cases an evidence entry names (a file, or a test with all its parameters)."""
    if "::" not in entry:
        return [o for node, o in outcomes.items() if node.split("::")[0] == entry]
    return [o for node, o in outcomes.items()
            if node == entry or node.startswith(entry + "[") or node.startswith(entry + "::")]
