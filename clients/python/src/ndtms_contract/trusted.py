"""Models built from records our own stages wrote, without validating them a second time.

A record on an internal topic (`ndtms.episodes.valid`, `ndtms.links`) was validated by the
stage that wrote it, inside that stage's transaction, and its shape is checked again by the
Avro schema when it is decoded. Validating it with pydantic once more on every hop cost most
of a stage's decoding time (about 35 µs a record against 5 µs here), so internal readers build
the model directly: enums and nested models converted, nothing else checked. Untrusted input
(HTTP bodies, files, `ndtms.episodes.raw`) is always validated in full.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
Convert = Callable[[Any], Any]


@cache
def constructor(model: type[M]) -> Callable[[dict[str, Any]], M]:
    """A function from plain data of the model's shape (as Avro decodes it) to the model."""
    converters = [
        (name, convert)
        for name, field in model.model_fields.items()
        if (convert := _converter(field.annotation)) is not None
    ]
    construct = model.model_construct

    def build(data: dict[str, Any]) -> M:
        for name, convert in converters:
            value = data.get(name)
            if value is not None:
                data[name] = convert(value)
        return construct(**data)

    return build


def _converter(annotation: Any) -> Convert | None:
    """How a decoded value becomes the annotated type, or None when it already is it."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _converter(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"{annotation} has more than one type besides None; build it with validation")
        return _converter(kinds[0])
    if origin is tuple:
        item = _converter(get_args(annotation)[0])
        if item is None:
            return tuple
        return lambda values: tuple(item(v) for v in values)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        # A lookup, not a call of the enum: the call was an eighth of a journey's decoding (#27).
        # Avro has checked the symbol against the reader's schema already.
        return {member.value: member for member in annotation}.__getitem__
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return constructor(annotation)
    return None
