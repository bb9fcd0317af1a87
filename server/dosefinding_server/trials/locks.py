"""One lock per trial: writes to a trial are serialised from reading its version to commit."""

from __future__ import annotations

import threading
from collections import defaultdict


class KeyedLocks:
    """A lock per key, created on first use (trials are few; the locks are kept)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def __getitem__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]
