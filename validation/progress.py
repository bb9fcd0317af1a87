"""Progress lines on stderr while a validation runs, each with the seconds since it started."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints ``[  12.3 s] message`` lines to stderr; silent when disabled."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def say(self, message: str) -> None:
        if self.enabled:
            print(f"[{self.elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)
