"""The registry from stage kind to implementation, and the design builder.

Every module in :mod:`.selectors` and :mod:`.behaviours` defines one stage and
registers it with :func:`register`; :func:`build_design` turns an ordered list
of stage descriptions (``{"stage": kind, **parameters}``, the form of the
reference data and of the proto's JSON mapping) into a chained selector,
checking that the order makes sense: an optional ``follow_path``, one core
selector, then behaviours.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Mapping, Sequence, TypeVar

from .errors import FieldViolation, InputError
from .selector import Role, Selector

_STAGES: dict[str, type[Selector]] = {}
_loaded = False

S = TypeVar("S", bound=type[Selector])


def register(cls: S) -> S:
    """Class decorator: make a stage available under its ``kind``."""
    if cls.kind in _STAGES and _STAGES[cls.kind] is not cls:
        raise RuntimeError(f"stage kind {cls.kind!r} registered twice")
    _STAGES[cls.kind] = cls
    return cls


def _load_stage_modules() -> None:
    global _loaded
    if _loaded:
        return
    for package in ("selectors", "behaviours"):
        module = importlib.import_module(f"{__package__}.{package}")
        for info in pkgutil.iter_modules(module.__path__):
            importlib.import_module(f"{module.__name__}.{info.name}")
    _loaded = True


def stage_kinds() -> dict[str, type[Selector]]:
    """Every registered stage kind and its implementation."""
    _load_stage_modules()
    return dict(sorted(_STAGES.items()))


def build_stage(kind: str, params: Mapping[str, Any], parent: Selector | None, index: int) -> Selector:
    """One stage from its parameters; problems are reported under the stage's field path."""
    stages = stage_kinds()
    where = f"design.stages[{index}]"
    cls = stages.get(kind)
    if cls is None:
        raise InputError(f"{where}.stage", f"unknown stage kind {kind!r}; known: {', '.join(stages)}")
    names = {f.name for f in dataclasses.fields(cls) if f.init} - {"parent", "index"}
    unknown = sorted(set(params) - names)
    if unknown:
        raise InputError(f"{where}.{kind}.{unknown[0]}", f"{kind} has no parameter {unknown[0]!r}")
    required = {
        f.name for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    } - {"parent", "index"}
    missing = sorted(required - set(params))
    if missing:
        raise InputError(f"{where}.{kind}.{missing[0]}", f"{kind} needs {missing[0]!r}")
    try:
        return cls(parent=parent, index=index, **params)
    except InputError as err:
        raise err.prefixed(f"{where}.{kind}") from None


def build_design(stages: Sequence[Mapping[str, Any]]) -> Selector:
    """Chain the stages of a design, in order; later stages take precedence."""
    if not stages:
        raise InputError("design.stages", "a design needs at least a core selector")
    kinds = stage_kinds()
    parent: Selector | None = None
    has_core = False
    for index, description in enumerate(stages):
        params = dict(description)
        kind = params.pop("stage", None)
        where = f"design.stages[{index}]"
        cls = kinds.get(kind) if isinstance(kind, str) else None
        if cls is not None:
            _check_position(cls, index, has_core, parent, where)
            has_core = has_core or cls.role is Role.CORE
        parent = build_stage(str(kind), params, parent, index)
    assert parent is not None
    _check_dose_levels(parent)
    return parent


def _check_position(cls: type[Selector], index: int, has_core: bool, parent: Selector | None,
                    where: str) -> None:
    if cls.role is Role.PATH and index != 0:
        raise InputError(f"{where}.stage", "follow_path can only be the first stage")
    if cls.role is Role.CORE:
        if has_core:
            raise InputError(f"{where}.stage", f"{cls.kind} is a second core selector; a design has one")
        if parent is not None and not cls.accepts_path:
            raise InputError(f"{where}.stage", f"{cls.kind} cannot follow follow_path")
    if cls.role is Role.BEHAVIOUR and parent is None:
        raise InputError(
            f"{where}.stage",
            f"{cls.kind} is a behaviour; a design starts with a core selector (or follow_path)",
        )


def _check_dose_levels(design: Selector) -> None:
    """Every dose level a stage names must exist in the design."""
    num_doses = design.num_doses
    if num_doses is None:
        return
    problems: list[FieldViolation] = []
    stage: Selector | None = design
    while stage is not None:
        dose = getattr(stage, "dose", None)
        if isinstance(dose, int) and not isinstance(dose, bool) and dose > num_doses:
            problems.append(FieldViolation(
                f"design.stages[{stage.index}].{stage.kind}.dose",
                f"dose {dose} is outside 1..{num_doses}",
            ))
        stage = stage.parent
    if problems:
        problems.reverse()
        raise InputError(problems[0].field, problems[0].description, *problems[1:])
