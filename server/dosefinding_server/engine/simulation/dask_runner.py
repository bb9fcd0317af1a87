"""Running simulation chunks on a Dask distributed cluster (optional dependency ``dosefinding[distributed]``).

The tasks are the same picklable chunks as :class:`.runner.LocalRunner`'s,
so a cluster returns exactly what a local run returns; each Dask worker
keeps its own state graphs between chunks, as a local worker process does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from .records import Trials
from .runner import Chunk, run_chunk

if TYPE_CHECKING:
    from distributed import Client


class DaskRunner:
    """Chunks as tasks of a ``distributed.Client`` (``pure=False``: every chunk is submitted)."""

    def __init__(self, client: "Client") -> None:
        self.client = client
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))

    def map_unordered(self, chunks: Sequence[Chunk]) -> Iterator[tuple[int, Trials]]:
        from distributed import as_completed

        futures = self.client.map(run_chunk, list(chunks), pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                yield position[future.key], future.result()
        finally:
            self.client.cancel(futures)
