"""How busy the whole machine was during a measured run, and how much of it the hypervisor took.

A benchmark's figures on a shared virtual machine move with its neighbours: the same build has given
0.85x and 1.3x the rate target on different hours of one day. Two percentages of all CPU time (every
core), read from the kernel's ``/proc/stat`` around each run, let a reader tell a slower build from a
busier host:

* ``host_busy_percent``: the time spent not idle (100 less what the server and the load generator left
  free);
* ``host_steal_percent``: the time the hypervisor gave to other guests while this one wanted to run
  (``steal``, see proc(5)); high steal means the run measured the neighbours as much as the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")

#: the columns of the aggregate ``cpu`` line of ``/proc/stat`` (proc(5)), in order; guest time is counted
#: within user and nice already, so it is left out of the total
COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CpuTimes:
    """The machine's cumulative CPU time by kind (clock ticks, all cores together)."""

    idle: int
    iowait: int
    steal: int
    total: int


def parse(stat_text: str) -> CpuTimes:
    """The aggregate ``cpu`` line of ``/proc/stat`` text; ``ValueError`` if it has none or too few columns."""
    for line in stat_text.splitlines():
        name, *values = line.split() or [""]
        if name == "cpu":
            if len(values) < len(COLUMNS):
                raise ValueError(f"/proc/stat's cpu line has {len(values)} columns, fewer than {len(COLUMNS)}")
            ticks = dict(zip(COLUMNS, map(int, values)))
            return CpuTimes(ticks["idle"], ticks["iowait"], ticks["steal"], sum(ticks.values()))
    raise ValueError("/proc/stat has no aggregate cpu line")


def read() -> CpuTimes | None:
    """The machine's CPU times now; None where there is no ``/proc/stat`` (not Linux)."""
    try:
        return parse(PROC_STAT.read_text())
    except OSError:
        return None


def percentages(before: CpuTimes | None, after: CpuTimes | None) -> dict[str, float | None]:
    """``host_busy_percent`` and ``host_steal_percent`` between two readings (None where either is missing or
    no time passed)."""
    if before is None or after is None or after.total <= before.total:
        return {"host_busy_percent": None, "host_steal_percent": None}
    elapsed = after.total - before.total
    idle = (after.idle - before.idle) + (after.iowait - before.iowait)
    return {"host_busy_percent": 100.0 * (1.0 - idle / elapsed),
            "host_steal_percent": 100.0 * (after.steal - before.steal) / elapsed}
