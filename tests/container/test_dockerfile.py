"""The Dockerfile's contract, checked without a Docker engine (none runs on these machines).

An image can only be built where an engine runs, so what the image promises is checked here piece by
piece from the Dockerfile itself: it runs the server's entry point as a user that is not root; each
setting it makes is one the server reads; its health check probes the port it configures, passes
while the server serves and fails once it has stopped; it refuses to start, saying why, without the
configuration file it expects; and the wheel it builds from what it copies holds the server, the
client, the generated stubs and the reference data.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator

import pytest

from dosefinding_server.config import Config
from validation.server_process import server_command, wait_until_serving

from ..trials.support import TestAuthority, write_pem

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SETTING_PREFIX = "DOSEFINDING_"
#: What the image's wheel must hold: both entry points, the generated stubs and the validation suite's reference.
WHEEL_HOLDS = ("dosefinding_server/main.py", "dosefinding_client/cli/__init__.py",
               "dosefinding/v1/trial_service_pb2.py", "dosefinding/v1/trial_service_pb2_grpc.py",
               "validation/__main__.py", "validation/reference/PROVENANCE.json")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; comment lines (also inside a continued instruction) are dropped."""
    found, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return found


def stages(text: str) -> list[list[Instruction]]:
    """The build stages, each from its ``FROM`` on."""
    result: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def only(stage: list[Instruction], keyword: str) -> str:
    matches = [i.arguments for i in stage if i.keyword == keyword]
    assert len(matches) == 1, f"the stage has {len(matches)} {keyword} instructions, expected one"
    return matches[0]


@pytest.fixture(scope="module")
def final_stage() -> list[Instruction]:
    return stages(DOCKERFILE.read_text())[-1]


@pytest.fixture(scope="module")
def build_stage() -> list[Instruction]:
    return stages(DOCKERFILE.read_text())[0]


@pytest.fixture(scope="module")
def image_environment(final_stage: list[Instruction]) -> dict[str, str]:
    """The image's ``ENV`` settings."""
    pairs = [word.split("=", 1) for i in final_stage if i.keyword == "ENV" for word in shlex.split(i.arguments)]
    return dict(pairs)


@pytest.fixture(scope="module")
def healthcheck_code(final_stage: list[Instruction]) -> str:
    """The Python the health check runs (its exec-form command is ``python -c CODE``)."""
    _, separator, command = only(final_stage, "HEALTHCHECK").partition(" CMD ")
    assert separator, "the health check has a command"
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"], argv
    return argv[2]


def test_the_image_runs_the_server_entry_point_as_a_user_that_is_not_root(final_stage: list[Instruction]) -> None:
    user = only(final_stage, "USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    useradd = next(i.arguments for i in final_stage if i.keyword == "RUN" and "useradd" in i.arguments)
    assert user in shlex.split(useradd), "the user is created in the image"
    entrypoint = json.loads(only(final_stage, "ENTRYPOINT"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["dosefinding-server"] and "dosefinding-server" in scripts


def test_each_setting_the_image_makes_is_one_the_server_reads(image_environment: dict[str, str]) -> None:
    settings = {f"{SETTING_PREFIX}{f.name.upper()}" for f in fields(Config)} | {f"{SETTING_PREFIX}CONFIG"}
    ours = {name for name in image_environment if name.startswith(SETTING_PREFIX)}
    assert ours, "the image configures the server through the environment"
    assert ours <= settings, f"settings the server does not read: {sorted(ours - settings)}"


def test_the_health_check_probes_the_port_the_image_configures(image_environment: dict[str, str],
                                                                healthcheck_code: str) -> None:
    assert f"'{image_environment['DOSEFINDING_PROBE_LISTEN']}'" in healthcheck_code


def test_without_its_configuration_file_the_image_refuses_to_start_and_names_the_file(
        image_environment: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "server.toml"
    environment = {**os.environ, **image_environment, "DOSEFINDING_DATA_DIR": str(tmp_path / "data"),
                   "DOSEFINDING_CONFIG": str(missing)}
    finished = subprocess.run(server_command(), env=environment, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    assert str(missing) in finished.stderr


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ServerAndProbe = tuple[subprocess.Popen[bytes], str]


@pytest.fixture
def image_like_server(image_environment: dict[str, str], tmp_path: Path) -> Iterator[ServerAndProbe]:
    """``dosefinding-server`` started as the image starts it (its entry point and environment, a mounted
    TLS configuration), on loopback ports; yields the process and its probe address."""
    authority = TestAuthority()
    issued = authority.issue("localhost", "Dose Finding Service", server=True)
    config = tmp_path / "server.toml"
    config.write_text(f'tls_cert = "{write_pem(tmp_path, "server.pem", issued.certificate)}"\n'
                      f'tls_key = "{write_pem(tmp_path, "server.key", issued.key)}"\n')
    probe = f"127.0.0.1:{free_loopback_port()}"
    environment = {**os.environ, **image_environment, "DOSEFINDING_DATA_DIR": str(tmp_path / "data"),
                   "DOSEFINDING_LISTEN": "127.0.0.1:0", "DOSEFINDING_PROBE_LISTEN": probe,
                   "DOSEFINDING_CONFIG": str(config)}
    ready, log_path = tmp_path / "ready.json", tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(server_command() + ["--ready-file", str(ready)], env=environment,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(process, ready, log_path)
            yield process, probe
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def run_healthcheck(code: str, image_probe: str, probe: str) -> int:
    """The image's health check, pointed at ``probe`` instead of the image's probe address."""
    return subprocess.run([sys.executable, "-c", code.replace(image_probe, probe)], capture_output=True,
                          timeout=30).returncode


def test_the_health_check_passes_while_the_server_serves_and_fails_once_it_has_stopped(
        image_like_server: ServerAndProbe, image_environment: dict[str, str],
        healthcheck_code: str) -> None:
    process, probe = image_like_server
    image_probe = image_environment["DOSEFINDING_PROBE_LISTEN"]
    assert run_healthcheck(healthcheck_code, image_probe, probe) == 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, "SIGTERM stops the server cleanly"
    assert run_healthcheck(healthcheck_code, image_probe, probe) != 0


def not_in_a_clean_clone(directory: str, names: list[str]) -> list[str]:
    """What a clean clone lacks: byte code, and the stubs generated into ``client/``."""
    generated = Path(directory) == ROOT / "client"
    return [name for name in names if name == "__pycache__" or (generated and name == "dosefinding")]


def test_the_wheel_built_from_what_the_image_copies_holds_the_server_the_client_and_the_stubs(
        build_stage: list[Instruction], tmp_path: Path) -> None:
    context = tmp_path / "context"
    for copy in (i for i in build_stage if i.keyword == "COPY"):
        *sources, destination = shlex.split(copy.arguments)
        for source in sources:
            target = context / destination / (Path(source).name if destination.endswith("/") else "")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=not_in_a_clean_clone)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target)
    build = next(i.arguments for i in build_stage if i.keyword == "RUN" and "grpc_tools.protoc" in i.arguments)
    steps = [step.strip() for step in build.split("&&")]
    generating = [step for step in steps if step.startswith(("mkdir ", "python -m grpc_tools.protoc ", "touch "))]
    assert len(generating) == 3, f"the build stage generates the stubs in three steps: {steps}"
    for step in generating:
        command = step.replace("python ", f"{shlex.quote(sys.executable)} ", 1) if step.startswith("python ") else step
        subprocess.run(command, shell=True, cwd=context, check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheels"), "."], cwd=context, check=True, timeout=300,
                   capture_output=True)
    wheel, = (tmp_path / "wheels").glob("dosefinding-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in WHEEL_HOLDS:
        assert module in names, f"{module} is not in the wheel"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "dosefinding-server = dosefinding_server.main:main" in scripts
    assert "dosefinding = dosefinding_client.cli:main" in scripts
