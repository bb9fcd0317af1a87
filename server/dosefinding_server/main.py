"""``dosefinding-server``: run the service, generate its audit signing key, or rotate that key.

``dosefinding-server [--listen HOST:PORT] [--data-dir DIR] [--insecure] ...``
serves; ``dosefinding-server keygen --out PATH`` writes a new Ed25519 signing
key (mode 0600) and prints its public key and fingerprint;
``dosefinding-server rotate-key --data-dir DIR --new-key PATH`` (server
stopped) records the hand-over to that key in the audit log and installs it
as the data directory's signing key.  Insecure
(plaintext) mode exists only when asked for with ``--insecure`` and only on a
loopback address, and the server says so loudly at start.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

import structlog

from dosefinding_client.addresses import is_loopback

from .affinity import cpu_plan, pin_this_process
from .api.server import KEY_ARCHIVE_DIR, build_server, rotate_signing_key
from .audit.errors import AuditError
from .audit.signing import generate_private_key, key_id, save_key_pair
from .config import Config, ConfigError, add_flags, load
from .logging import configure_logging
from .storage import StorageError
from .version import ENGINE_VERSION
from .processes import Children, ProcessFailed
from .workers import start_workers

log = structlog.get_logger("dosefinding.server")


def keygen(out: str) -> int:
    """``keygen``: a new signing key in ``out`` and its public half beside it; neither file may exist already."""
    key = generate_private_key()
    public_path = Path(out).with_suffix(".pub")
    try:
        save_key_pair(key, Path(out), public_path)
    except (AuditError, OSError) as error:
        print(f"dosefinding-server keygen: {error}", file=sys.stderr)
        return 1
    print(public_path.read_text().strip())
    print(f"key id (SHA-256 fingerprint): {key_id(key.public_key())}")
    print(f"private key: {out} (mode 0600); public key: {public_path}")
    return 0


def rotate_key(argv: list[str]) -> int:
    """``rotate-key``: the log records the hand-over, endorsed by the old key; the new key signs from now on."""
    parser = argparse.ArgumentParser(prog="dosefinding-server rotate-key",
                                     description="Rotate the audit signing key of a stopped server.")
    parser.add_argument("--data-dir", required=True, help="the server's data directory")
    parser.add_argument("--new-key", required=True, help="the new private key (from `dosefinding-server keygen`)")
    parser.add_argument("--signing-key", help="the current signing key (default DATA_DIR/audit-signing-key.pem); "
                                              "the new key is installed in its place")
    args = parser.parse_args(argv)
    config = Config(data_dir=args.data_dir, signing_key=args.signing_key)
    try:
        checkpoint = rotate_signing_key(config, args.new_key)
    except (AuditError, StorageError, OSError, ValueError) as error:
        print(f"dosefinding-server rotate-key: {error}", file=sys.stderr)
        return 1
    print(f"signing key rotated: the log now has {checkpoint.tree_size} records; the checkpoint covering the "
          f"rotation is signed by key {checkpoint.key_id}")
    print(f"installed as {config.signing_key_path}; the retired public key is kept in "
          f"{Path(args.data_dir) / KEY_ARCHIVE_DIR}")
    return 0


def serve(config: Config, ready_file: str | None) -> int:
    if config.insecure and not is_loopback(config.listen):
        print(f"dosefinding-server: --insecure is refused on {config.listen}: not a loopback address",
              file=sys.stderr)
        return 2
    if config.probe_listen and not is_loopback(config.probe_listen):
        print(f"dosefinding-server: --probe-listen must be a loopback address, not {config.probe_listen}",
              file=sys.stderr)
        return 2
    try:
        cpus = cpu_plan(config.workers) if config.pin_cpus else None
    except ConfigError as error:
        print(f"dosefinding-server: {error}", file=sys.stderr)
        return 2
    try:
        running = build_server(config)
    except ConfigError as error:
        print(f"dosefinding-server: {error}", file=sys.stderr)
        return 2
    except (AuditError, StorageError, OSError, ValueError, ProcessFailed) as error:
        print(f"dosefinding-server: {error}", file=sys.stderr)
        return 1
    address = f"{config.listen.rsplit(':', 1)[0]}:{running.port}"
    workers = Children([])
    if config.workers > 1:
        probe = f"{config.probe_listen.rsplit(':', 1)[0]}:{running.probe_port}" if config.probe_listen else None
        try:
            workers = start_workers(replace(config, listen=address, probe_listen=probe), running.worker_appends,
                                    running.audit.public_key, cpus[1:] if cpus else None)
        except ProcessFailed as error:
            print(f"dosefinding-server: {error}", file=sys.stderr)
            running.stop(0.0)
            return 1
    if cpus:
        pin_this_process(cpus[0])
    if config.insecure:
        log.warning("insecure_mode", address=address,
                    detail="INSECURE: plaintext on loopback; without configured identities every caller is admin")
    log.info("serving", address=address, engine_version=ENGINE_VERSION, data_dir=config.data_dir,
             processes=config.workers, cpus=cpus)
    if ready_file:  # written aside and renamed: whoever sees the file sees all of it
        staging = Path(ready_file).with_name(Path(ready_file).name + ".partial")
        staging.write_text(json.dumps({"address": address}))
        staging.replace(ready_file)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    children = Children(running.writer.processes + workers.processes)
    if children.processes:
        threading.Thread(target=children.wait_for_exit, args=(stopping,), daemon=True, name="children").start()
    stopping.wait()
    failed = children.failed()
    if failed is not None:
        log.error("process_exited", process=failed.name, exit_code=failed.exitcode)
    log.info("shutting_down", grace_seconds=5)
    workers.stop(5.0)
    running.stop(5.0)
    return 1 if failed is not None else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["keygen"]:
        parser = argparse.ArgumentParser(prog="dosefinding-server keygen")
        parser.add_argument("--out", required=True, help="path of the private key to write")
        return keygen(parser.parse_args(argv[1:]).out)
    if argv[:1] == ["rotate-key"]:
        return rotate_key(argv[1:])
    parser = argparse.ArgumentParser(prog="dosefinding-server", description=__doc__.splitlines()[0])
    add_flags(parser)
    parser.add_argument("--ready-file", help="write the bound address here (JSON) once serving")
    args = parser.parse_args(argv)
    try:
        config = load(args)
    except ConfigError as error:
        print(f"dosefinding-server: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    return serve(config, args.ready_file)


if __name__ == "__main__":
    sys.exit(main())
