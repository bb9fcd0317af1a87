"""One lock per trial: writes to a trial are serialised from reading its version to commit."""

from __future__ import annotations

import threading
import weakref


class KeyedLocks:
    """A lock per key, created on first use and kept while anyone holds a reference to it.

    The locks are held weakly: a call keeps its trial's lock (by holding it) until its commit, and
    a key nobody is using is forgotten, so requests naming made-up trial ids do not pile up locks.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()

    def __getitem__(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def __len__(self) -> int:
        return len(self._locks)
