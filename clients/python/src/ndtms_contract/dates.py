"""Calendar dates on the wire: `YYYY-MM-DD` only, and messages that say why a date is not one."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from typing import Any

ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# RFC 3339 date-time (what JSON Schema's `date-time` means): seconds and an offset required.
RFC3339_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
INSTANT_FORM = "YYYY-MM-DDTHH:MM:SS with its offset, e.g. 2024-03-01T10:02:00Z"


def why_not_a_date(text: str) -> str:
    """What is wrong with a string that was meant to be a date, in a person's words."""
    match = ISO_DATE.match(text)
    if match is None:
        return f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2024-03-01"
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return f"{text!r} has month {month:02d}: months run from 01 to 12 (YYYY-MM-DD)"
    if year == 0:
        return f"{text!r} has year 0000: there is no year 0"
    last = calendar.monthrange(year, month)[1]
    if month == 2 and day == 29:
        return f"there is no 29 February {year}: {year} is not a leap year"
    if not 1 <= day <= last:
        return f"there is no {day} {calendar.month_name[month]} {year}"
    return f"{text!r} is not a date: write it as YYYY-MM-DD"


def iso_date(value: Any) -> Any:
    """A pydantic before-validator: a string is a date only as YYYY-MM-DD (no timestamps, no times)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}")
    try:
        if ISO_DATE.match(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(why_not_a_date(value))


def rfc3339_instant(value: Any) -> Any:
    """A pydantic before-validator: an instant given as a string must be RFC 3339, offset included."""
    if not isinstance(value, str):
        return value
    try:
        if RFC3339_INSTANT.match(value):
            # Parsed here: after a before-validator, strict mode would refuse the string.
            return datetime.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(f"got {value!r}; expected an instant, {INSTANT_FORM}")
