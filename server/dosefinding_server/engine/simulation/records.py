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

from ..outcomes import PHASES


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
    phase_n: np.ndarray | None = None  # trials × phases × doses (``outcomes.PHASES`` order), where simulated
    phase_tox: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.recommended)

    @property
    def num_doses(self) -> int:
        return self.n_at.shape[1]

    def by_phase(self) -> tuple[np.ndarray, np.ndarray]:
        """Patients and toxicities per phase (trials × phases × doses); a simulator without phases treats every
        patient in escalation."""
        if self.phase_n is not None and self.phase_tox is not None:
            return self.phase_n, self.phase_tox
        later = np.zeros((len(self), len(PHASES) - 1, self.num_doses), dtype=self.n_at.dtype)
        return (np.concatenate([self.n_at[:, None], later], axis=1),
                np.concatenate([self.tox_at[:, None], later], axis=1))

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
        return Trials(
            recommended=np.concatenate([part.recommended for part in parts]),
            n_at=np.concatenate([part.n_at for part in parts]),
            tox_at=np.concatenate([part.tox_at for part in parts]),
            eff_at=np.concatenate([part.eff_at for part in parts]),
            reason=np.concatenate(codes).astype(np.int32),
            reasons=reasons,
            estimate=_concat_optional([part.estimate for part in parts]),
            phase_n=_concat_optional([part.phase_n for part in parts]),
            phase_tox=_concat_optional([part.phase_tox for part in parts]),
        )


def _concat_optional(arrays: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """The arrays concatenated, or ``None`` unless every part has one."""
    present = [a for a in arrays if a is not None]
    return np.concatenate(present) if present and len(present) == len(arrays) else None


def label_reasons(reasons: Sequence[StopReason]) -> tuple[np.ndarray, tuple[StopReason, ...]]:
    """Codes into a sorted table of the distinct reasons, for :class:`Trials`."""
    table = tuple(sorted(set(reasons)))
    position = {r: i for i, r in enumerate(table)}
    return np.array([position[r] for r in reasons], dtype=np.int32), table
