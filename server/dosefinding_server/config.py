"""Server configuration from a TOML file, the environment and flags.

Precedence, lowest first: built-in defaults, the configuration file
(``--config`` or ``DOSEFINDING_CONFIG``), environment variables
(``DOSEFINDING_<NAME>``, e.g. ``DOSEFINDING_LISTEN``), command-line flags.
Identities (certificate subjects and token digests with their roles) come
from the file only: they are structured, and secrets never belong in flags.

Example file::

    listen = "0.0.0.0:50051"
    data_dir = "/var/lib/dosefinding"
    tls_cert = "/etc/dosefinding/server.pem"
    tls_key = "/etc/dosefinding/server.key"
    client_ca = "/etc/dosefinding/clients-ca.pem"   # set: clients must present a certificate

    [[subjects]]
    subject = "CN=edc.example.org,O=Sponsor"
    roles = ["system"]

    [[tokens]]
    name = "stats-team"
    sha256 = "<hex SHA-256 of the token>"
    roles = ["statistician"]
"""

from __future__ import annotations

import argparse
import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from .security.authentication import Identities
from .security.principals import Role


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class Config:
    listen: str = "127.0.0.1:50051"
    data_dir: str = "var"
    insecure: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    signing_key: str | None = None
    checkpoint_every: int = 1000
    probe_listen: str | None = None
    max_workers: int = 16
    workers: int = 1
    #: bind each serving process to a CPU of its own (Linux; see :mod:`.affinity`): for a host given over
    #: to the service, with ``workers`` at most its CPUs
    pin_cpus: bool = False
    #: seconds after which a client connection is asked to reconnect (gRPC's max connection age; calls in
    #: flight finish first); 0 keeps connections for ever. With several processes, where the kernel put a
    #: connection (at random) then does not last: an unlucky spread of a few busy clients evens out.
    max_connection_age: float = 300.0
    log_level: str = "info"
    identities: Identities = field(default_factory=Identities)

    @property
    def database_path(self) -> Path:
        return Path(self.data_dir) / "dosefinding.sqlite3"

    @property
    def signing_key_path(self) -> Path:
        return Path(self.signing_key) if self.signing_key else Path(self.data_dir) / "audit-signing-key.pem"


_SCALARS = {f.name: f.type for f in fields(Config) if f.name != "identities"}
#: the settings that are addresses to listen on
_ADDRESSES = ("listen", "probe_listen")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _coerce(name: str, value: Any) -> Any:
    """``value`` (text from the environment or a flag, or a TOML value) as the setting's type; a value of
    another type is refused, never converted by guess (a TOML ``2.5`` for a count is not 2)."""
    kind = _SCALARS[name]
    try:
        if "bool" in kind:
            if isinstance(value, bool):
                return value
            return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}[str(value).lower()]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(value)
        if "int" in kind:
            if isinstance(value, float):
                raise ValueError(value)
            return int(value)
        if "float" in kind:
            return float(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except (KeyError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {kind}") from None


def _check_address(name: str, address: str) -> None:
    """``HOST:PORT`` with a port gRPC can bind (0 picks a free one); gRPC itself would wrap a larger port."""
    host, colon, port = address.rpartition(":")
    if not (colon and host and port.isdigit() and int(port) <= 65535):
        raise ConfigError(f"{name}: {address!r} is not HOST:PORT with a port from 0 to 65535")


def _roles(where: str, names: Any) -> frozenset[Role]:
    try:
        return frozenset(Role(n) for n in names)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: roles must be a list of {', '.join(r.value for r in Role)}") from None


def _entries(data: Mapping[str, Any], table: str, keys: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The ``[[table]]`` entries of a file, each a table whose ``keys`` are text, with where each stands."""
    entries = data.get(table, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{table}: expected [[{table}]] tables, not {entries!r}")
    found = []
    for index, entry in enumerate(entries):
        where = f"{table}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table with {', '.join(keys)} and roles, not {entry!r}")
        for key in keys:
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{where}: {key} is required, as text")
        found.append((where, entry))
    return found


def _identities(data: Mapping[str, Any]) -> Identities:
    subjects = {entry["subject"]: _roles(where, entry.get("roles"))
                for where, entry in _entries(data, "subjects", ("subject",))}
    tokens = {}
    for where, entry in _entries(data, "tokens", ("name", "sha256")):
        digest = entry["sha256"].lower()
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{where}: sha256 must be the token's SHA-256 digest, 64 hex digits")
        tokens[digest] = (entry["name"], _roles(where, entry.get("roles")))
    return Identities(subjects, tokens)


def from_file(path: str | Path) -> Config:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"config file {path}: {error}") from None
    unknown = sorted(set(data) - set(_SCALARS) - {"subjects", "tokens"})
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    try:
        identities = _identities(data)
    except ConfigError as error:
        raise ConfigError(f"config file {path}: {error}") from None
    return Config(**{k: _coerce(k, v) for k, v in data.items() if k in _SCALARS}, identities=identities)


def load(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Config:
    """Defaults < file < environment < flags (flags left unset do not override)."""
    path = args.config or environ.get("DOSEFINDING_CONFIG")
    config = from_file(path) if path else Config()
    from_env = {name: _coerce(name, environ[f"DOSEFINDING_{name.upper()}"])
                for name in _SCALARS if f"DOSEFINDING_{name.upper()}" in environ}
    from_flags = {name: value for name in _SCALARS if (value := getattr(args, name, None)) is not None}
    config = replace(config, **{**from_env, **from_flags})
    for name in ("workers", "max_workers", "checkpoint_every"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name}: {getattr(config, name)} is not a positive integer")
    if not (math.isfinite(config.max_connection_age) and config.max_connection_age >= 0):
        raise ConfigError(f"max_connection_age: {config.max_connection_age} is not a number of seconds (0: never)")
    for name in _ADDRESSES:
        if (address := getattr(config, name)) is not None:
            _check_address(name, address)
    if Path(config.data_dir).exists() and not Path(config.data_dir).is_dir():
        raise ConfigError(f"data_dir: {config.data_dir} is not a directory")
    if config.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log_level: {config.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    return config


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Flags for the settings a script or orchestrator sets most often."""
    parser.add_argument("--config", help="TOML configuration file (env DOSEFINDING_CONFIG)")
    parser.add_argument("--listen", help="HOST:PORT to listen on; port 0 picks a free port")
    parser.add_argument("--data-dir", dest="data_dir", help="directory of the SQLite store and the audit signing key")
    parser.add_argument("--insecure", action="store_true", default=None,
                        help="plaintext, and no credentials needed when no identities are configured; loopback only")
    parser.add_argument("--tls-cert", dest="tls_cert", help="server certificate chain (PEM)")
    parser.add_argument("--tls-key", dest="tls_key", help="server private key (PEM)")
    parser.add_argument("--client-ca", dest="client_ca", help="CA of client certificates; set: mTLS is required")
    parser.add_argument("--signing-key", dest="signing_key",
                        help="audit signing key (default DATA_DIR/audit-signing-key.pem)")
    parser.add_argument("--checkpoint-every", dest="checkpoint_every", type=int,
                        help="sign a checkpoint every N records")
    parser.add_argument("--probe-listen", dest="probe_listen",
                        help="extra plaintext HOST:PORT on loopback for local health probes (container healthchecks); "
                             "callers there still need credentials for anything but health")
    parser.add_argument("--workers", type=int,
                        help="server processes sharing the port and the store (default 1; one per core for throughput)")
    parser.add_argument("--pin-cpus", dest="pin_cpus", action="store_true", default=None,
                        help="bind each server process to a CPU of its own (Linux; a host given over to the service)")
    parser.add_argument("--max-connection-age", dest="max_connection_age", type=float,
                        help="seconds before a client connection is asked to reconnect (default 300; 0: never)")
    parser.add_argument("--log-level", dest="log_level", help=f"one of {', '.join(LOG_LEVELS)} (default info)")
