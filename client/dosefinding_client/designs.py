"""Designs from escalation-style stage lists: ``[{"stage": "crm", "skeleton": [...], ...}, ...]``.

That is the form of the reference data and the shortest way to write a design
by hand; :func:`design_from_stages` turns it into a ``dosefinding.v1.Design``.
Design files may also use the proto's canonical JSON mapping
(:func:`load_design`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from dosefinding.v1 import design_pb2

from .words import word_enum


def _set_field(body: Message, key: str, value: Any, where: str) -> None:
    field = body.DESCRIPTOR.fields_by_name.get(key)
    if field is None:
        raise ValueError(f"{where}: {body.DESCRIPTOR.name} has no parameter {key!r}")
    if field.message_type is design_pb2.DoseRef.DESCRIPTOR:
        ref = getattr(body, key)
        if isinstance(value, str):
            ref.selector = word_enum(design_pb2.DoseSelector.DESCRIPTOR, value)
        else:
            ref.level = int(value)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        setattr(body, key, word_enum(field.enum_type, str(value)))
    elif field.is_repeated:
        getattr(body, key).extend(value)
    elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        setattr(body, key, float(value))
    else:
        setattr(body, key, value)


def design_from_stages(stages: Sequence[Mapping[str, Any]]) -> design_pb2.Design:
    """A Design from a list of ``{"stage": kind, **parameters}``; ``ValueError`` on unknown names."""
    design = design_pb2.Design()
    for index, description in enumerate(stages):
        params = dict(description)
        kind = params.pop("stage", None)
        where = f"stages[{index}]"
        if kind not in design_pb2.Stage.DESCRIPTOR.fields_by_name:
            raise ValueError(f"{where}: unknown stage kind {kind!r}")
        stage = design.stages.add()
        body = getattr(stage, kind)
        body.SetInParent()
        for key, value in params.items():
            _set_field(body, key, value, where)
    return design


def load_design(path: str | Path) -> design_pb2.Design:
    """Read a design file: a stage list, or the proto's canonical JSON (``{"stages": [...]}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        return design_from_stages(data)
    return json_format.ParseDict(data, design_pb2.Design())
