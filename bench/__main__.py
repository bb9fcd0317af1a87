"""Run benchmarks and print their figures: ``python -m bench [fits] [evaluate]``."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any, Callable

from . import audit, dose_paths, evaluate, fits, simulation, trials

BENCHMARKS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "fits": fits.run,
    "evaluate": evaluate.run,
    "trials": trials.run,
    "simulation": simulation.run,
    "dose_paths": dose_paths.run,
    "audit": audit.run,
}


def show(name: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n## {name}")
    for row in rows:
        print("  " + "  ".join(f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    results = {name: BENCHMARKS[name]() for name in names}
    if args.json:
        print(json.dumps({"machine": platform.platform(), "results": results}, indent=2))
    else:
        print(f"machine: {platform.platform()}, python {platform.python_version()}")
        for name, rows in results.items():
            show(name, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
