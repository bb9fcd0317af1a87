"""Which reference cases a validation run uses: all of them, or a documented subset.

A full validation reads every case of every family file in the reference
directory.  ``families`` and ``limit`` (the first N cases of each family)
select a subset for quick checks and tests; the report records the
selection, and a run on a subset is marked partial: it is not a validation
of a release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evaluate import read_cases

Case = dict[str, Any]


@dataclass(frozen=True)
class Selection:
    families: frozenset[str] | None = None
    limit: int | None = None

    @property
    def complete(self) -> bool:
        return self.families is None and self.limit is None

    def describe(self) -> dict[str, Any]:
        return {"complete": self.complete,
                "families": sorted(self.families) if self.families is not None else "all",
                "cases_per_family": self.limit if self.limit is not None else "all"}


def load(reference_dir: Path, selection: Selection) -> dict[str, list[Case]]:
    """The selected cases of each family, in file order, keyed by family (sorted)."""
    selected: dict[str, list[Case]] = {}
    for path in sorted(reference_dir.glob("*.jsonl")):
        for case in read_cases(path):
            family = case["family"]
            if selection.families is not None and family not in selection.families:
                continue
            chosen = selected.setdefault(family, [])
            if selection.limit is None or len(chosen) < selection.limit:
                chosen.append(case)
    unknown = sorted((selection.families or frozenset()) - set(selected))
    if unknown:
        raise ValueError(f"no reference cases of family {', '.join(unknown)}")
    return dict(sorted(selected.items()))
