"""Reporting periods: the one definition of "the 12 months to a day" and of a quarter.

A period is `[start, end]`, both days included. The rolling year to a day starts the day after
the same date a year before (29 February: the day after 28 February). Quarters are calendar
quarters, `2025Q1` being January to March 2025 (the 2024-25 financial year's fourth quarter).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

EARLIEST = date(1900, 1, 1)
# Years 1900 to 9999, as NDTMS periods start on or after 1900-01-01.
QUARTER_PATTERN = r"^(19[0-9]{2}|[2-9][0-9]{3})Q[1-4]$"
_QUARTER = re.compile(QUARTER_PATTERN)


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the period starts ({self.start}) after it ends ({self.end})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def year_to(day: date) -> Period:
    """The 12 months ending on `day`."""
    try:
        year_before = day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        year_before = day.replace(year=day.year - 1, day=28)
    return Period(year_before + timedelta(days=1), day)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1 to 4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        if not re.match(r"^[0-9]{4}Q[1-4]$", text):
            raise ValueError(f"a quarter is written like 2025Q1 (year, Q, 1 to 4), not {text!r}")
        if not _QUARTER.match(text):
            raise ValueError(f"NDTMS periods start on or after {EARLIEST.isoformat()}, not in {text[:4]}")
        return cls(int(text[:4]), int(text[5]))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def period(self) -> Period:
        last_month = 3 * self.number
        last_day = calendar.monthrange(self.year, last_month)[1]
        return Period(date(self.year, last_month - 2, 1), date(self.year, last_month, last_day))

    @property
    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


def quarters_to(last: Quarter, count: int) -> list[Quarter]:
    """`count` quarters ending with `last`, oldest first."""
    found = [last]
    while len(found) < count:
        found.append(found[-1].previous)
    return found[::-1]
