"""Validation errors in a person's words: what was received, what is expected, what to do.

pydantic's messages ("Value error, ...", "Input should be ...") name its own types; every answer
of the platform (HTTP problems, JSONL and CSV rejections) goes through `explain` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ndtms_contract.dates import INSTANT_FORM, why_not_a_date
from ndtms_contract.episodes import IDENTIFIER_PATTERN
from ndtms_contract.pseudonyms import CLIENT_KEY_PATTERN

JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}
# Each pattern of the contract, said in words.
PATTERN_WORDS = {
    IDENTIFIER_PATTERN: "use 1 to 40 letters (A-Z, a-z), digits, '_', '.' or '-', starting with a letter "
    "or a digit",
    CLIENT_KEY_PATTERN: "a client key is 32 characters, each a digit or a lower-case letter a to f",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return JSON_TYPES.get(type(value), type(value).__name__)


def _received(detail: Mapping[str, Any]) -> str:
    value = detail.get("input")
    return repr(value) if isinstance(value, str) else json_type(value)


def explain(detail: Mapping[str, Any]) -> str:
    """A pydantic error in our words: what was received, what is expected, what to do."""
    kind, ctx, value = detail["type"], detail.get("ctx") or {}, detail.get("input")
    got = _received(detail)
    if kind == "missing":
        return "required: add this field"
    if kind == "extra_forbidden":
        return "not part of the contract: remove this field (or check its spelling)"
    if kind == "enum":
        return f"got {got}; expected {ctx.get('expected')}"
    if kind.startswith("date_"):
        return why_not_a_date(value) if isinstance(value, str) else f"got {got}; expected a date, YYYY-MM-DD"
    if kind.startswith("datetime_") or kind == "timezone_aware":
        return f"got {got}; expected an instant, {INSTANT_FORM}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_WORDS:
        return f"got {got}; {PATTERN_WORDS[ctx['pattern']]}"
    if kind == "greater_than_equal" and detail["loc"] == ("revision",):
        return (
            f"got {value}; revisions start at 1: send 1 for an episode's first update, higher for each change"
        )
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"got {got}; expected a number {'at least' if kind[0] == 'g' else 'at most'} " + str(
            ctx.get("ge", ctx.get("le"))
        )
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"got {got}; expected a whole number"
    if kind == "bool_type":
        return f"got {got}; expected true or false"
    if kind == "string_type":
        return f"got {got}; expected a string"
    if kind in ("string_too_short", "string_too_long"):
        return (
            f"got {len(value) if isinstance(value, str) else got} characters; expected "
            f"{ctx.get('min_length', 1)} to {ctx.get('max_length', 'any number of')}"
            if kind == "string_too_long"
            else f"got {got}; expected at least {ctx.get('min_length')} character(s)"
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"got {got}; expected an object"
    if kind in ("tuple_type", "list_type"):
        return f"got {got}; expected an array"
    return str(detail["msg"]).removeprefix("Value error, ")
