"""Randomised dose expansion: permuted blocks of random size within strata.

After escalation, patients are randomised between two or more doses within
strata (e.g. disease groups).  Each stratum has its own allocation sequence:
blocks whose size is a random multiple (from ``block_multiples``) of the
number of arms, each a random permutation holding every arm equally often
(Rosenberger and Lachin 2016, ch. 3; random block sizes keep the next
assignment unpredictable near the end of a block).  The sequence is a pure
function of the trial's secret seed and the stratum, so it can be reproduced
by anyone who holds the seed, and is concealed from everyone who does not:
the service reveals an assignment only when it makes it.  Strata draw from
independent streams keyed by the stratum's name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .selector import require


#: The largest block, as a multiple of the number of arms: blocks far larger than that no longer keep the arms
#: balanced as the expansion goes (the point of blocking), and each block is drawn whole.
MAX_BLOCK_MULTIPLE = 10


@dataclass(frozen=True)
class ExpansionPlan:
    """The doses randomised between, the strata, and the block multiples."""

    arms: tuple[int, ...]
    strata: tuple[str, ...] = ("all",)
    block_multiples: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        require(len(self.arms) >= 2, "arms", "randomised expansion needs at least two doses")
        require(len(set(self.arms)) == len(self.arms), "arms", "each dose is one arm")
        require(all(a >= 1 for a in self.arms), "arms", "doses are 1-based levels")
        require(len(self.strata) >= 1 and all(s.strip() for s in self.strata), "strata",
                "name at least one stratum, none of them blank")
        require(len(set(self.strata)) == len(self.strata), "strata", "strata are distinct")
        require(len(self.block_multiples) >= 1
                and all(1 <= m <= MAX_BLOCK_MULTIPLE for m in self.block_multiples),
                "block_multiples", f"block multiples are 1 to {MAX_BLOCK_MULTIPLE}")


def _stratum_key(stratum: str) -> int:
    """A stable integer key for a stratum name (independent streams per stratum)."""
    return int.from_bytes(hashlib.sha256(stratum.encode("utf-8")).digest()[:8], "big")


def sequence(plan: ExpansionPlan, seed: int, stratum: str, length: int) -> list[int]:
    """The first ``length`` assignments of a stratum (whole blocks are drawn; the prefix is returned)."""
    require(stratum in plan.strata, "stratum", f"{stratum!r} is not one of {', '.join(plan.strata)}")
    stream = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_stratum_key(stratum),)))
    assignments: list[int] = []
    while len(assignments) < length:
        multiple = int(plan.block_multiples[int(stream.integers(len(plan.block_multiples)))])
        block = list(plan.arms) * multiple
        assignments.extend(int(block[i]) for i in stream.permutation(len(block)))
    return assignments[:length]


def assignment(plan: ExpansionPlan, seed: int, stratum: str, index: int) -> int:
    """The dose of the ``index``-th (0-based) patient randomised in ``stratum``."""
    return sequence(plan, seed, stratum, index + 1)[index]
