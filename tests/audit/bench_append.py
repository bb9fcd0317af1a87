"""Append throughput and latency on this machine (not a test; pytest does not collect it).

    .venv/bin/python -m tests.audit.bench_append --threads 8 --mode group
    .venv/bin/python -m tests.audit.bench_append --threads 8 --mode group --rate 500

``--mode group`` waits for group commit (:meth:`AuditLog.append_durable`),
``--mode direct`` commits one transaction per append (:meth:`AuditLog.append`).
Without ``--rate`` each thread appends back to back (closed loop); with it the
threads together offer that many appends per second (open loop), which is how
latency under a target load should be read.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from dosefinding_server.audit import AuditLog
from dosefinding_server.storage.sqlite import Database

from .support import KEY, entry, new_log


def append_once(database: Database, log: AuditLog, mode: str, i: int) -> None:
    if mode == "group":
        log.append_durable(entry(i))
    else:
        with database.transaction() as tx:
            log.append(entry(i), tx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--count", type=int, default=3000, help="appends in all")
    parser.add_argument("--mode", choices=("group", "direct"), default="group")
    parser.add_argument("--rate", type=float, help="appends per second offered by all threads together")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        database, log = new_log(Path(directory) / "audit.db", KEY)
        latencies: list[float] = []
        lock = threading.Lock()
        per_thread = args.count // args.threads
        start = time.perf_counter() + 0.05

        def client(number: int) -> None:
            mine = []
            due = start + (number / args.rate if args.rate else 0.0)
            for i in range(per_thread):
                if args.rate:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    due += args.threads / args.rate
                began = time.perf_counter()
                append_once(database, log, args.mode, i)
                mine.append(time.perf_counter() - began)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        log.close()
        database.close()
    latencies.sort()
    n = len(latencies)
    print(f"{args.mode} threads={args.threads} appends={n} rate={n / elapsed:.0f}/s "
          f"p50={latencies[n // 2] * 1e3:.2f}ms p99={latencies[int(n * 0.99)] * 1e3:.2f}ms "
          f"max={latencies[-1] * 1e3:.2f}ms")


if __name__ == "__main__":
    main()
