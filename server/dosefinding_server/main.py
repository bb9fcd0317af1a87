"""``dosefinding-server``: run the service.

Insecure (plaintext, unauthenticated) mode exists only when asked for
explicitly with ``--insecure`` and only on a loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
from pathlib import Path

import structlog

from .api.server import build_server
from .logging import configure_logging
from .version import ENGINE_VERSION

log = structlog.get_logger("dosefinding.server")


def is_loopback(listen: str) -> bool:
    """Whether ``HOST:PORT`` names a loopback address (localhost, 127.0.0.0/8 or ::1)."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dosefinding-server", description=__doc__)
    parser.add_argument("--listen", default=os.environ.get("DOSEFINDING_LISTEN", "127.0.0.1:50051"),
                        help="HOST:PORT to listen on (port 0 picks a free port)")
    parser.add_argument("--data-dir", default=os.environ.get("DOSEFINDING_DATA_DIR", "var"),
                        help="directory of the SQLite store and audit log")
    parser.add_argument("--insecure", action="store_true",
                        help="plaintext without authentication; loopback addresses only")
    parser.add_argument("--ready-file", help="write the bound address here (JSON) once serving")
    parser.add_argument("--log-level", default=os.environ.get("DOSEFINDING_LOG_LEVEL", "info"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    if not args.insecure:
        print("dosefinding-server: TLS is not configured yet; start with --insecure on loopback",
              file=sys.stderr)
        return 2
    if not is_loopback(args.listen):
        print(f"dosefinding-server: --insecure is refused on {args.listen}: not a loopback address",
              file=sys.stderr)
        return 2
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    running = build_server(args.listen)
    host = args.listen.rsplit(":", 1)[0]
    address = f"{host}:{running.port}"
    log.warning("insecure_mode", detail="INSECURE: plaintext and unauthenticated, loopback only",
                address=address)
    log.info("serving", address=address, engine_version=ENGINE_VERSION, data_dir=args.data_dir)
    if args.ready_file:
        Path(args.ready_file).write_text(json.dumps({"address": address}))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    log.info("shutting_down", grace_seconds=5)
    running.stop(5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
