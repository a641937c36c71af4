"""How two records' attributors compare, attribute by attribute: the levels of the match model.

Pure and value-free in what it returns: a level names the kind of agreement (`swapped`,
`day_month_transposed`), never the values compared, so it may be published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rapidfuzz.distance import DamerauLevenshtein


class InitialsLevel(StrEnum):
    EQUAL = "equal"
    SWAPPED = "swapped"  # first and second initial exchanged
    ONE_DIFFERS = "one_differs"
    BOTH_DIFFER = "both_differ"


class BirthLevel(StrEnum):
    EQUAL = "equal"
    DAY_MONTH_TRANSPOSED = "day_month_transposed"
    ONE_EDIT = "one_edit"  # Damerau-Levenshtein 1 on YYYYMMDD
    YEAR_OFF = "year_off"  # same day and month, year off by 1 or 10
    DIFFERENT = "different"


class SexLevel(StrEnum):
    EQUAL = "equal"
    DIFFERS = "differs"
    NOT_KNOWN = "not_known"  # either record says not known


class PlaceLevel(StrEnum):
    EQUAL = "equal"  # the release's destination LA is the community episode's LA
    DIFFERS = "differs"
    UNKNOWN = "unknown"  # either is missing


@dataclass(frozen=True)
class Attributors:
    """A record's attributors, normalised as the client key normalises them."""

    first_initial: str
    second_initial: str
    date_of_birth: date
    sex: str

    @classmethod
    def of(cls, first_initial: str, second_initial: str, date_of_birth: date, sex: str) -> Attributors:
        return cls(first_initial.strip().upper(), second_initial.strip().upper(), date_of_birth, str(sex))


def initials(a: Attributors, b: Attributors) -> InitialsLevel:
    first, second = a.first_initial == b.first_initial, a.second_initial == b.second_initial
    if first and second:
        return InitialsLevel.EQUAL
    if a.first_initial == b.second_initial and a.second_initial == b.first_initial:
        return InitialsLevel.SWAPPED
    if first or second:
        return InitialsLevel.ONE_DIFFERS
    return InitialsLevel.BOTH_DIFFER


def birth(a: date, b: date) -> BirthLevel:
    if a == b:
        return BirthLevel.EQUAL
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return BirthLevel.DAY_MONTH_TRANSPOSED
    if DamerauLevenshtein.distance(_digits(a), _digits(b)) == 1:
        return BirthLevel.ONE_EDIT
    if (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) in (1, 10):
        return BirthLevel.YEAR_OFF
    return BirthLevel.DIFFERENT


def _digits(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def sex(a: str, b: str) -> SexLevel:
    if "not_known" in (a, b):
        return SexLevel.NOT_KNOWN
    return SexLevel.EQUAL if a == b else SexLevel.DIFFERS


def place(destination: str | None, community: str | None) -> PlaceLevel:
    if not destination or not community:
        return PlaceLevel.UNKNOWN
    return (
        PlaceLevel.EQUAL if destination.strip().upper() == community.strip().upper() else PlaceLevel.DIFFERS
    )
