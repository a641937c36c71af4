"""Naming the branch of each nullable union before fastavro writes a record.

fastavro picks a union's branch by validating the value against each branch in turn, the whole
nested record included, and then writes it: about a third of its time on our episode records.
Given the branch by name (its tuple notation, `(name, value)`), it writes at once. The names
come from the schema, and the bytes are the same either way (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Hint = Callable[[dict[str, Any]], None]
NAMED = ("record", "enum", "fixed")


def union_hints(schema: Any) -> Hint:
    """A function naming, in place, the branch of every nullable union in a record of `schema`
    (a schema parsed by fastavro, whose named types carry their full names)."""
    if not (isinstance(schema, dict) and schema.get("type") == "record"):
        raise ValueError("a topic's value schema is a record schema")
    return _record(schema, {})


def _record(schema: dict[str, Any], named: dict[str, Any]) -> Hint:
    named[schema["name"]] = schema
    unions: list[tuple[str, str, Hint | None]] = []
    nested: list[tuple[str, Hint, bool]] = []  # (field, hint, is an array of records)
    for field in schema["fields"]:
        kind = field["type"]
        if isinstance(kind, list):
            branches = [b for b in kind if b != "null"]
            if len(kind) == 2 and len(branches) == 1:
                branch = _resolved(branches[0], named)
                unions.append((field["name"], _name(branches[0]), _inner(branch, named)))
            continue
        inner = _inner(_resolved(kind, named), named)
        if inner is not None:
            is_array = isinstance(kind, dict) and kind.get("type") == "array"
            nested.append((field["name"], inner, is_array))

    def hint(data: dict[str, Any]) -> None:
        for name, branch, inner in unions:
            value = data.get(name)
            if value is not None:
                if inner is not None:
                    _apply(inner, value)
                data[name] = (branch, value)
        for name, inner, is_array in nested:
            value = data.get(name)
            if value is not None:
                if is_array:
                    for item in value:
                        inner(item)
                else:
                    inner(value)

    return hint


def _apply(inner: Hint, value: Any) -> None:
    if isinstance(value, dict):
        inner(value)
    else:
        for item in value:
            inner(item)


def _inner(schema: Any, named: dict[str, Any]) -> Hint | None:
    """The hint for a record, or for the records of an array; None for anything else."""
    if isinstance(schema, dict) and schema.get("type") == "record":
        return _record(schema, named)
    if isinstance(schema, dict) and schema.get("type") == "array":
        items = _resolved(schema["items"], named)
        if isinstance(items, dict) and items.get("type") == "record":
            return _record(items, named)
    return None


def _resolved(schema: Any, named: dict[str, Any]) -> Any:
    return named.get(schema, schema) if isinstance(schema, str) else schema


def _name(branch: Any) -> str:
    """The name fastavro's tuple notation knows a branch by: a named type's full name, else its type."""
    if isinstance(branch, str):
        return branch
    kind = branch["type"]
    return str(branch["name"]) if kind in NAMED else str(kind)
