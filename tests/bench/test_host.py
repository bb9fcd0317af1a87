"""The machine's CPU percentages that ``bench trials`` reports beside each run (from ``/proc/stat`` text)."""

from __future__ import annotations

import pytest

from bench import host

#: user nice system idle iowait irq softirq steal guest guest_nice, as Linux 2.6.33+ prints them
BEFORE = "cpu  1000 10 200 5000 50 0 40 100 0 0\ncpu0 500 5 100 2500 25 0 20 50 0 0\nintr 1 2 3\n"
AFTER = "cpu  1500 10 300 5300 50 0 40 200 7 0\ncpu0 800 5 150 2650 25 0 20 100 7 0\nintr 4 5 6\n"


def test_busy_and_steal_are_percentages_of_all_the_time_that_passed() -> None:
    percentages = host.percentages(host.parse(BEFORE), host.parse(AFTER))
    # 1000 ticks passed: 500 user, 100 system, 300 idle, 100 steal; guest time is within user already
    assert percentages["host_busy_percent"] == pytest.approx(70.0)
    assert percentages["host_steal_percent"] == pytest.approx(10.0)


def test_a_missing_reading_or_no_time_passed_gives_no_percentages() -> None:
    reading = host.parse(BEFORE)
    empty = {"host_busy_percent": None, "host_steal_percent": None}
    assert host.percentages(None, reading) == empty
    assert host.percentages(reading, None) == empty
    assert host.percentages(reading, reading) == empty


@pytest.mark.parametrize("text", ["", "intr 1 2 3\n", "\nintr 1 2 3\n", "cpu  1 2 3 4\n"])
def test_text_without_a_whole_aggregate_cpu_line_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cpu line"):
        host.parse(text)


def test_this_machine_reads_as_linux_says_or_not_at_all() -> None:
    reading = host.read()
    if host.PROC_STAT.exists():
        assert reading is not None and reading.total >= reading.idle + reading.steal
    else:
        assert reading is None
