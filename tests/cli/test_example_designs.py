"""The README's example designs: each file is in the proto's canonical JSON mapping, is shown in the README as
it is on disk, and is decided by the service; the README's commands of that section print what it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from google.protobuf import json_format

from dosefinding.v1 import design_pb2
from tests.support import EXAMPLES, ROOT

DESIGNS = sorted((EXAMPLES / "designs").glob("*.json"))
#: an outcome string for each file; BOIN12 decides on efficacy too
OUTCOMES = {"boin12": "1NNE 2TNE"}
SECTION = re.search(r"^### Example designs\n(.*?)^## ", (ROOT / "README.md").read_text(), re.S | re.M)


def readme_section() -> str:
    assert SECTION is not None, "the README has an 'Example designs' section"
    return SECTION.group(1)


def shown_commands() -> list[tuple[str, str]]:
    """Each ``$ dosefinding ...`` line of the section's text blocks, with the output shown under it."""
    shown = []
    for block in re.findall(r"```text\n(.*?)```", readme_section(), re.S):
        for command in re.split(r"^\$ ", block, flags=re.M)[1:]:
            line, _, output = command.partition("\n")
            shown.append((line, output.rstrip("\n")))
    return shown


def test_there_is_an_example_for_each_core_design() -> None:
    kinds = {json_format.Parse(path.read_text(), design_pb2.Design()).stages[0].WhichOneof("kind")
             for path in DESIGNS}
    assert {"crm", "boin", "three_plus_three", "tpi", "mtpi", "mtpi2", "boin12", "follow_path"} <= kinds


@pytest.mark.parametrize("path", DESIGNS, ids=lambda path: path.stem)
def test_an_example_is_the_canonical_mapping_shown_in_the_readme_as_on_disk(path: Path) -> None:
    text = path.read_text()
    design = json_format.Parse(text, design_pb2.Design())
    assert design.stages, "a design has stages"
    assert f"```json\n{text}```" in readme_section()


@pytest.mark.parametrize("path", DESIGNS, ids=lambda path: path.stem)
def test_the_service_decides_on_each_example(run, path: Path) -> None:
    code, out, err = run("evaluate", str(path), OUTCOMES.get(path.stem, "1NNN 2NTN"))
    assert code == 0, err
    assert re.match(r"Recommended dose: \d    Continue: yes    Patients: 6\n", out)


@pytest.mark.parametrize("shown", shown_commands(), ids=lambda shown: shown[0].split()[1])
def test_the_sections_commands_print_what_the_readme_shows(run, monkeypatch: pytest.MonkeyPatch,
                                                            shown: tuple[str, str]) -> None:
    line, output = shown
    program, *argv = shlex.split(line)
    assert program == "dosefinding"
    monkeypatch.chdir(ROOT)
    code, out, err = run(*argv)
    assert code == 0, err
    assert out.rstrip("\n") == output
