"""Per-trial results of a simulation, as arrays with one row per trial, in trial order.

Every simulator (escalation's loop, BOIN's ``get.oc``, dfcrm's ``crmsim``)
returns a :class:`Trials` table per chunk of trials; chunks are concatenated
in trial order, so the table, and every summary of it, is the same however
the trials were split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True, order=True)
class StopReason:
    """Why a trial ended: a stage of the design (its kind and index) or a named limit."""

    name: str
    stage_index: int | None = None

    def __str__(self) -> str:
        return self.name if self.stage_index is None else f"{self.name} (stage {self.stage_index})"


@dataclass(frozen=True)
class Trials:
    """One row per simulated trial."""

    recommended: np.ndarray  # recommended dose, 0 = no dose
    n_at: np.ndarray  # trials × doses: patients treated
    tox_at: np.ndarray  # toxicities
    eff_at: np.ndarray  # efficacies (zero when no efficacy was simulated)
    reason: np.ndarray  # index into ``reasons``
    reasons: tuple[StopReason, ...]
    estimate: np.ndarray | None = None  # the final model's parameter estimate, where a simulator reports one

    def __len__(self) -> int:
        return len(self.recommended)

    @property
    def num_doses(self) -> int:
        return self.n_at.shape[1]

    def stop_reasons(self) -> list[StopReason]:
        """Each trial's stop reason."""
        return [self.reasons[i] for i in self.reason.tolist()]

    @staticmethod
    def concat(parts: Sequence["Trials"]) -> "Trials":
        """The trials of ``parts``, in order (stop reasons renumbered over their union, sorted)."""
        reasons = tuple(sorted({r for part in parts for r in part.reasons}))
        position = {r: i for i, r in enumerate(reasons)}
        codes = [np.array([position[r] for r in part.reasons], dtype=np.int32)[part.reason]
                 if len(part.reasons) else part.reason for part in parts]
        estimates = [part.estimate for part in parts]
        return Trials(
            recommended=np.concatenate([part.recommended for part in parts]),
            n_at=np.concatenate([part.n_at for part in parts]),
            tox_at=np.concatenate([part.tox_at for part in parts]),
            eff_at=np.concatenate([part.eff_at for part in parts]),
            reason=np.concatenate(codes).astype(np.int32),
            reasons=reasons,
            estimate=None if any(e is None for e in estimates) else np.concatenate(estimates),  # type: ignore[arg-type]
        )


def label_reasons(reasons: Sequence[StopReason]) -> tuple[np.ndarray, tuple[StopReason, ...]]:
    """Codes into a sorted table of the distinct reasons, for :class:`Trials`."""
    table = tuple(sorted(set(reasons)))
    position = {r: i for i, r in enumerate(table)}
    return np.array([position[r] for r in reasons], dtype=np.int32), table
