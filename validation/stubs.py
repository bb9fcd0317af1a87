"""Were the installed gRPC stubs generated from these proto files?

Each generated ``*_pb2`` module embeds the serialized ``FileDescriptorProto``
it was generated from.  Compiling the proto files again (``grpc_tools``'
bundled protoc) and comparing descriptors shows that the stubs the service
and the client run are the API the proto files state, part of identifying
the validated system (21 CFR Part 11 §11.10(a)).  protoc's Python generator
leaves out the ``json_name`` of fields, so that is cleared before comparing.
Without ``grpc_tools`` (a development dependency) the check is reported as
not made, which is not a failure.
"""

from __future__ import annotations

import importlib
import importlib.util
import tempfile
from pathlib import Path
from typing import Any, Iterable

from google.protobuf import descriptor_pb2


def _without_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in list(message.field) + list(message.extension):
            field.ClearField("json_name")
        _without_json_names(message.nested_type)


def _compiled(proto_dir: Path, protos: list[Path]) -> descriptor_pb2.FileDescriptorSet:
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "descriptors.pb"
        status = protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--descriptor_set_out={out}",
                              *(str(p) for p in protos)])
        if status != 0:
            raise RuntimeError(f"protoc could not compile the proto files (exit status {status})")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def check_stubs(proto_dir: Path) -> dict[str, Any]:
    """Compare each proto file's descriptor with the one its installed ``_pb2`` module embeds."""
    protos = sorted(proto_dir.rglob("*.proto")) if proto_dir.is_dir() else []
    if not protos:
        return {"checked": False, "why": f"no proto files under {proto_dir}", "files": [], "problems": []}
    if importlib.util.find_spec("grpc_tools") is None:
        return {"checked": False, "why": "grpc_tools is not installed", "files": [], "problems": []}
    files, problems = [], []
    for compiled in _compiled(proto_dir, protos).file:
        _without_json_names(compiled.message_type)
        module_name = compiled.name.removesuffix(".proto").replace("/", ".") + "_pb2"
        try:
            embedded = importlib.import_module(module_name).DESCRIPTOR.serialized_pb
        except ImportError:
            embedded = None
        matches = embedded == compiled.SerializeToString()
        files.append({"proto": compiled.name, "module": module_name, "matches": matches})
        if not matches:
            problems.append(f"stub {module_name} was not generated from {compiled.name} "
                            f"({'missing' if embedded is None else 'descriptor differs'}): run `make proto`")
    return {"checked": True, "files": files, "problems": problems}
