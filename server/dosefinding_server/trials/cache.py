"""Folded trial states kept in memory, so a call reads only the events it has not seen.

A trial's events are append-only and each version is written once, so the state at a committed
version never changes: a cached state is brought up to date by folding just the newer events
onto a copy (see :func:`~.model.fold`). Every read still asks the store for the committed
version first, so a state is served only up to what is durable.

A writer puts the state its write leads to once that write is durable (with its decision already
computed, the next write to the trial need not fit the model again); a reader ignores a cached
state newer than the committed version (another process of the server may be behind or ahead).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .model import TrialState

DEFAULT_CAPACITY = 4096


class StateCache:
    """The latest known state of up to ``capacity`` trials, least recently used dropped first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._states: OrderedDict[str, TrialState] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, trial_id: str) -> TrialState | None:
        with self._guard:
            state = self._states.get(trial_id)
            if state is not None:
                self._states.move_to_end(trial_id)
            return state

    def put(self, state: TrialState) -> None:
        """Keep ``state`` unless a newer version of the trial is kept already."""
        with self._guard:
            current = self._states.get(state.trial_id)
            if current is None or current.version <= state.version:
                self._states[state.trial_id] = state
            self._states.move_to_end(state.trial_id)
            while len(self._states) > self._capacity:
                self._states.popitem(last=False)

    def __len__(self) -> int:
        return len(self._states)
