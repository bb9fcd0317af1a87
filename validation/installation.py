"""Installation qualification (IQ): exactly what is installed, and is it intact?

IQ identifies the validated system (21 CFR Part 11 §11.10(a); GAMP 5
installation qualification) so that a later reader can tell whether the
system in use is the one that was validated:

* the interpreter and platform;
* every installed distribution with its version, and every installed file
  that carries a hash in its distribution's ``RECORD`` re-hashed against it
  (a file changed after installation is a failure);
* the SHA-256 of every file of the project's own distribution (``dosefinding``:
  its packages, the generated gRPC stubs included, found where they are
  imported from, so an editable install is covered too);
* the SHA-256 of the proto files, and whether the installed stubs were
  generated from them (:mod:`.stubs`);
* the reference data: its provenance, and each file's hash and line count
  checked against ``PROVENANCE.json``.
"""

from __future__ import annotations

import base64
import importlib.metadata as metadata
import importlib.util
import json
import platform
import sys
from pathlib import Path
from typing import Any, Iterator

from .digests import file_digest, sha256_file
from .stubs import check_stubs

PROJECT_DISTRIBUTION = "dosefinding"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = PROJECT_ROOT / "proto"
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SKIPPED_PARTS = frozenset({"__pycache__"})


def qualify(reference_dir: Path = REFERENCE_DIR) -> dict[str, Any]:
    """The IQ section of the report; ``ok`` is false when anything installed is not intact."""
    distributions = _distributions()
    project = _project_files()
    protos = _proto_files()
    stubs = check_stubs(PROTO_DIR)
    reference = reference_data(reference_dir)
    failures = ([f"{d['name']}: {p}" for d in distributions for p in d["changed"]]
                + project["problems"] + protos["problems"] + stubs["problems"] + reference["problems"])
    return {
        "ok": not failures,
        "failures": failures,
        "platform": {
            "python": sys.version,
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "distributions": distributions,
        "project": project,
        "protos": protos,
        "stubs": stubs,
        "reference": reference,
    }


def _record_hash_matches(path: Path, mode: str, value: str) -> bool:
    """Whether a file has the digest its RECORD line gives (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(file_digest(path, mode)).rstrip(b"=").decode() == value


def _distributions() -> list[dict[str, Any]]:
    """Every installed distribution, its version, and its files re-hashed against its RECORD."""
    found = []
    for dist in metadata.distributions():
        checked, changed = 0, []
        for file in dist.files or ():
            if file.hash is None:
                continue
            path = Path(str(dist.locate_file(file)))
            try:
                intact = _record_hash_matches(path, file.hash.mode, file.hash.value)
            except OSError:
                changed.append(f"{file}: missing")
                continue
            checked += 1
            if not intact:
                changed.append(f"{file}: changed since installation (RECORD hash differs)")
        found.append({"name": dist.metadata["Name"], "version": dist.version,
                      "location": str(dist.locate_file("")), "files_checked": checked, "changed": changed})
    return sorted(found, key=lambda d: (d["name"].lower(), d["version"]))


def _package_files(package: str) -> Iterator[tuple[str, Path]]:
    """Every file of an importable top-level package or module, as (path relative to its parent, path)."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        return
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            root = Path(location)
            for path in sorted(root.rglob("*")):
                if path.is_file() and not SKIPPED_PARTS.intersection(path.relative_to(root).parts):
                    yield f"{package}/{path.relative_to(root).as_posix()}", path
    elif spec.origin:
        yield Path(spec.origin).name, Path(spec.origin)


def _project_files() -> dict[str, Any]:
    """The project distribution: version, install kind, and the SHA-256 of each of its files.

    The installed distribution is the one an installer recorded (it has a
    ``RECORD``), not build metadata such as an ``.egg-info`` in the working
    directory.
    """
    installed = [d for d in metadata.distributions(name=PROJECT_DISTRIBUTION) if d.read_text("RECORD")]
    if len(installed) != 1:
        return {"name": PROJECT_DISTRIBUTION, "version": None, "files": [],
                "problems": [f"{len(installed)} installations of the {PROJECT_DISTRIBUTION} distribution "
                             "(one expected)"]}
    dist = installed[0]
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    packages = (dist.read_text("top_level.txt") or "").split()
    files = {name: path for package in packages for name, path in _package_files(package)}
    problems = [f"top-level package {p} cannot be imported" for p in packages
                if importlib.util.find_spec(p) is None]
    return {
        "name": PROJECT_DISTRIBUTION,
        "version": dist.version,
        "editable": bool(direct_url.get("dir_info", {}).get("editable")),
        "source": direct_url.get("url"),
        "packages": packages,
        "files": [{"path": name, "sha256": sha256_file(files[name])} for name in sorted(files)],
        "problems": problems,
    }


def _proto_files() -> dict[str, Any]:
    """The SHA-256 of every ``.proto`` file of the public API."""
    paths = sorted(PROTO_DIR.rglob("*.proto")) if PROTO_DIR.is_dir() else []
    return {
        "directory": str(PROTO_DIR),
        "files": [{"path": p.relative_to(PROTO_DIR).as_posix(), "sha256": sha256_file(p)} for p in paths],
        "problems": [] if paths else [f"no proto files under {PROTO_DIR}"],
    }


def reference_data(reference_dir: Path) -> dict[str, Any]:
    """The reference data's provenance, and each file checked against the hash and line count it records."""
    provenance_path = reference_dir / "PROVENANCE.json"
    provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
    recorded: dict[str, Any] = provenance.get("files", {})
    files, problems = [], []
    for name in sorted(set(recorded) | {p.name for p in reference_dir.glob("*.jsonl")}):
        path = reference_dir / name
        entry: dict[str, Any] = {"file": name, "recorded_sha256": recorded.get(name, {}).get("sha256"),
                                 "recorded_lines": recorded.get(name, {}).get("lines")}
        if not path.exists():
            entry.update(sha256=None, lines=None, ok=False)
            problems.append(f"reference file {name} is missing")
        else:
            with open(path, "rb") as handle:
                lines = sum(1 for line in handle if line.strip())
            entry.update(sha256=sha256_file(path), lines=lines)
            entry["ok"] = entry["sha256"] == entry["recorded_sha256"] and lines == entry["recorded_lines"]
            if name not in recorded:
                problems.append(f"reference file {name} is not recorded in PROVENANCE.json")
            elif not entry["ok"]:
                problems.append(f"reference file {name} differs from PROVENANCE.json "
                                f"(sha256 {entry['sha256']}, {lines} lines)")
        files.append(entry)
    return {
        "directory": str(reference_dir),
        "provenance": {key: value for key, value in provenance.items() if key != "files"},
        "provenance_sha256": sha256_file(provenance_path),
        "format_sha256": sha256_file(reference_dir / "FORMAT.md"),
        "files": files,
        "problems": problems,
    }
