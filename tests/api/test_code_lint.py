"""No unused imports or variables, no undefined names, no line over the project's limit (``[tool.ruff]`` in
pyproject.toml): ruff's pyflakes and line-length rules over the project's code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_pyflakes_and_line_length_rules_pass():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a development dependency; run make setup"
    result = subprocess.run(
        [ruff, "check", "--select", "F,E9,E501", "--exclude", "client/dosefinding", "--output-format", "concise",
         "server", "client", "validation", "bench", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
