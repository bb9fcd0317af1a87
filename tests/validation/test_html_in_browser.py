"""The HTML report renders in a real browser: headless Chromium shows the summary first, and the plots.

Chromium is Debian's ``chromium`` package (``/usr/bin/chromium``); CI
installs it (``apt-get install -y chromium``).  Without it this test fails,
saying so: it is never skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .conftest import SIGNER, Report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).exists(), "Chromium is not installed: apt-get install -y chromium"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *arguments],
                          capture_output=True, text=True, timeout=120, check=True)


def test_the_browser_shows_the_summary_first_and_the_plots(signed_report: Report, tmp_path: Path) -> None:
    page = (signed_report.directory / "report.html").as_uri()
    dom = _chromium(tmp_path / "profile", "--dump-dom", page).stdout
    sections = re.findall(r'<section id="([a-z]+)"', dom)
    assert sections[:5] == ["summary", "iq", "oq", "pq", "traceability"]
    summary = dom[dom.index('<section id="summary"'):dom.index('<section id="iq"')]
    assert re.search(r'id="verdict">(PASS|FAIL)<', summary)
    assert SIGNER in summary
    agreement = re.search(r'<figure class="plot" id="plot-agreement">\s*<svg[^>]*>(.*?)</svg>', summary, re.S)
    assert agreement and "escalation" in agreement.group(1)
    oc_plots = re.findall(r'<figure class="plot" id="plot-(oc|crmsim|sim)-p-\d+">\s*<svg', dom)
    assert len(oc_plots) >= 3, "one operating-characteristics plot per simulated family"


def test_the_browser_renders_the_page_to_an_image(signed_report: Report, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _chromium(tmp_path / "profile", "--window-size=1200,2000", f"--screenshot={shot}",
              (signed_report.directory / "report.html").as_uri())
    image = shot.read_bytes()
    assert image.startswith(PNG_SIGNATURE) and len(image) > 50_000
