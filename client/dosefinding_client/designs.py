"""Designs from escalation-style stage lists: ``[{"stage": "crm", "skeleton": [...], ...}, ...]``.

That is the form of the reference data and the shortest way to write a design
by hand; :func:`design_from_stages` turns it into a ``dosefinding.v1.Design``.
Design files may also use the proto's canonical JSON mapping
(:func:`load_design`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from dosefinding.v1 import design_pb2

from .files import DESIGN_FILE, read_as, read_json
from .words import word_enum


def _set_field(body: Message, key: str, value: Any, where: str) -> None:
    field = body.DESCRIPTOR.fields_by_name.get(key)
    if field is None:
        raise ValueError(f"{where}: {body.DESCRIPTOR.name} has no parameter {key!r}")
    try:
        _set_value(body, field, value)
    except (TypeError, ValueError) as error:  # e.g. a word where a number belongs
        raise ValueError(f"{where}.{key}: {value!r} does not fit ({error})") from None


def _set_value(body: Message, field: FieldDescriptor, value: Any) -> None:
    key = field.name
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
        if not isinstance(description, Mapping):
            raise ValueError(f"stages[{index}]: expected an object with a \"stage\" kind, not {description!r}")
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
    """Read a design file: a stage list, or the proto's canonical JSON (``{"stages": [...]}``); a file that is
    neither raises :class:`~.files.InputFileError` naming it and the problem."""
    data = read_json(path, DESIGN_FILE)
    return read_as(lambda: _design(data), path, DESIGN_FILE)


def _design(data: Any) -> design_pb2.Design:
    if isinstance(data, list):
        return design_from_stages(data)
    if isinstance(data, dict):
        return json_format.ParseDict(data, design_pb2.Design())
    raise ValueError(f'expected a list of stages or an object with "stages", not {data!r}')
