"""Server configuration: defaults < file < environment < flags, and settings that cannot work are refused."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from dosefinding_server.api.server import build_server
from dosefinding_server.config import Config, ConfigError, add_flags, load
from dosefinding_server.security.principals import Role


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(list(flags))


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text('listen = "127.0.0.1:7000"\nworkers = 2\nmax_workers = 8\ncheckpoint_every = 50\n')
    environment = {"DOSEFINDING_CONFIG": str(file), "DOSEFINDING_WORKERS": "3", "DOSEFINDING_MAX_WORKERS": "12"}
    config = load(parse("--workers", "4"), environment)
    assert (config.listen, config.checkpoint_every, config.max_workers, config.workers) == ("127.0.0.1:7000", 50, 12, 4)
    assert load(parse(), {}).workers == 1, "one process unless asked"
    file.write_text("max_connection_age = 30\n")
    assert load(parse(), {"DOSEFINDING_CONFIG": str(file)}).max_connection_age == 30.0
    assert load(parse("--max-connection-age", "0"), {"DOSEFINDING_CONFIG": str(file)}).max_connection_age == 0.0
    assert not load(parse(), {}).pin_cpus, "processes run on any CPU unless asked"
    assert load(parse(), {"DOSEFINDING_PIN_CPUS": "yes"}).pin_cpus
    assert load(parse("--pin-cpus"), {"DOSEFINDING_PIN_CPUS": "false"}).pin_cpus


@pytest.mark.parametrize(("flags", "environment", "words"), [
    (("--workers", "0"), {}, "workers: 0 is not a positive integer"),
    ((), {"DOSEFINDING_WORKERS": "-2"}, "workers: -2 is not a positive integer"),
    ((), {"DOSEFINDING_WORKERS": "two"}, "workers: 'two' is not a valid int"),
    (("--checkpoint-every", "0"), {}, "checkpoint_every: 0 is not a positive integer"),
    (("--max-connection-age", "-1"), {}, "max_connection_age: -1.0 is not a number of seconds"),
    ((), {"DOSEFINDING_MAX_CONNECTION_AGE": "inf"}, "max_connection_age: inf is not a number of seconds"),
    ((), {"DOSEFINDING_MAX_CONNECTION_AGE": "soon"}, "max_connection_age: 'soon' is not a valid float"),
    (("--listen", "127.0.0.1:99999"), {}, "listen: '127.0.0.1:99999' is not HOST:PORT with a port from 0 to 65535"),
    (("--listen", "127.0.0.1"), {}, "listen: '127.0.0.1' is not HOST:PORT"),
    ((), {"DOSEFINDING_LISTEN": "localhost:http"}, "listen: 'localhost:http' is not HOST:PORT"),
    ((), {"DOSEFINDING_PROBE_LISTEN": ":50052"}, "probe_listen: ':50052' is not HOST:PORT"),
    (("--log-level", "chatty"), {}, "log_level: 'chatty' is not one of debug, info, warning, error, critical"),
])
def test_settings_that_cannot_work_are_refused_by_name(flags: tuple[str, ...], environment: dict[str, str],
                                                       words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load(parse(*flags), environment)


@pytest.mark.parametrize(("line", "words"), [
    ("listen = 50051", "listen: 50051 is not a valid str"),
    ("workers = 2.5", "workers: 2.5 is not a valid int"),
    ("workers = true", "workers: True is not a valid int"),
    ("max_connection_age = false", "max_connection_age: False is not a valid float"),
    ("data_dir = [\"a\", \"b\"]", "data_dir: \\['a', 'b'\\] is not a valid str"),
])
def test_a_file_setting_of_the_wrong_type_is_refused_not_converted(tmp_path: Path, line: str, words: str) -> None:
    file = tmp_path / "server.toml"
    file.write_text(line + "\n")
    with pytest.raises(ConfigError, match=words):
        load(parse("--config", str(file)), {})


DIGEST = "ab" * 32


@pytest.mark.parametrize(("text", "words"), [
    ('subjects = "CN=edc"', "subjects: expected \\[\\[subjects\\]\\] tables, not 'CN=edc'"),
    ('subjects = ["CN=edc"]', "subjects\\[0\\]: expected a table with subject and roles"),
    ('[[subjects]]\nroles = ["system"]', "subjects\\[0\\]: subject is required, as text"),
    ('[[subjects]]\nsubject = "CN=edc"\nroles = ["pilot"]', "subjects\\[0\\]: roles must be a list of"),
    ('[[tokens]]\nname = "stats"\nsha256 = 5\nroles = ["admin"]', "tokens\\[0\\]: sha256 is required, as text"),
    ('[[tokens]]\nname = "stats"\nsha256 = "abc"\nroles = ["admin"]', "tokens\\[0\\]: sha256 must be the token's"),
    (f'[[tokens]]\nsha256 = "{DIGEST}"\nroles = ["admin"]', "tokens\\[0\\]: name is required, as text"),
])
def test_an_identity_that_cannot_work_is_refused_by_where_it_stands(tmp_path: Path, text: str, words: str) -> None:
    file = tmp_path / "server.toml"
    file.write_text(text + "\n")
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(file))}: {words}"):
        load(parse("--config", str(file)), {})


def test_identities_from_the_file_are_the_callers(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text(f'[[subjects]]\nsubject = "CN=edc"\nroles = ["system"]\n'
                    f'[[tokens]]\nname = "stats"\nsha256 = "{DIGEST.upper()}"\nroles = ["statistician", "auditor"]\n')
    identities = load(parse("--config", str(file)), {}).identities
    assert identities.subjects == {"CN=edc": frozenset({Role.SYSTEM})}
    assert identities.tokens == {DIGEST: ("stats", frozenset({Role.STATISTICIAN, Role.AUDITOR}))}


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "store"
    not_a_directory.write_text("")
    with pytest.raises(ConfigError, match="data_dir: .* is not a directory"):
        load(parse("--data-dir", str(not_a_directory)), {})


def test_the_accepted_forms_of_an_address_and_a_log_level() -> None:
    config = load(parse("--listen", "[::1]:0", "--log-level", "WARNING"),
                  {"DOSEFINDING_PROBE_LISTEN": "localhost:65535"})
    assert (config.listen, config.probe_listen, config.log_level) == ("[::1]:0", "localhost:65535", "WARNING")


def test_a_connection_age_beyond_grpcs_integers_means_for_ever(tmp_path: Path) -> None:
    """gRPC takes the age in milliseconds as a C int; a longer one is its "unlimited", not a failed start."""
    server = build_server(Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True, max_connection_age=1e12))
    try:
        assert server.port > 0
    finally:
        server.stop(0)
