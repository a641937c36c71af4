"""The continuity-of-care indicator (PHOF 2.16), live, from the current link records.

Over a rolling 12 months of prison exit dates (the year up to and including today):
the denominator is the transfers whose 21-day window has closed and whose outcome is
decided; the numerator is those engaged. Triaged-only and not-engaged counts are the rest
of the denominator. Every transfer is in exactly one of six columns, which add up to
`transfers`: decided (`engaged`, `triaged`, `not_engaged`), window still open with an outcome
so far (`engaged_window_open`, `triaged_window_open`: not yet in the denominator, so the rate
does not swing up early in every window), and `pending` (no community contact yet).
`engaged_by_confirmed_match` counts the engaged ones tied by a probable match a person confirmed
(`matched_on`), so the rate is also given without them (`rate_without_confirmed`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ndtms.contract.links import LinkStatus, MatchedOn, TransferLink

NATIONAL = "England"
UNKNOWN_LA = "unknown"


class Grouping(StrEnum):
    NATIONAL = "national"
    PRISON = "prison"
    LA = "la"


@dataclass(frozen=True)
class IndicatorRow:
    group: str
    transfers: int
    decided: int
    engaged: int
    triaged: int
    not_engaged: int
    engaged_window_open: int
    triaged_window_open: int
    pending: int
    # Of `engaged`, those engaged through a probable match a person confirmed.
    engaged_by_confirmed_match: int = 0

    @property
    def rate(self) -> float | None:
        """Engaged as a share of decided transfers; None when nothing is decided yet."""
        return self.engaged / self.decided if self.decided else None

    @property
    def rate_without_confirmed(self) -> float | None:
        """The rate as if no probable match had been confirmed (exact client keys only)."""
        return (self.engaged - self.engaged_by_confirmed_match) / self.decided if self.decided else None


def period_start(today: date) -> date:
    """The first exit date counted: the day after the same date a year earlier."""
    try:
        year_before = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_before = today.replace(year=today.year - 1, day=28)
    return year_before + timedelta(days=1)


def group_of(link: TransferLink, by: Grouping) -> str:
    if by is Grouping.PRISON:
        return link.prison_provider_id
    if by is Grouping.LA:
        return link.exit_destination_la or UNKNOWN_LA
    return NATIONAL


def indicator(links: Iterable[TransferLink], today: date, by: Grouping) -> list[IndicatorRow]:
    start = period_start(today)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for link in links:
        if not start <= link.prison_exit_date <= today:
            continue
        column = column_of(link, today)
        counts[group_of(link, by)][column] += 1
        if column == "engaged" and link.matched_on is MatchedOn.CONFIRMED_CANDIDATE:
            counts[group_of(link, by)][CONFIRMED_COLUMN] += 1
    return [
        IndicatorRow(
            group,
            transfers=sum(n for column, n in tally.items() if column in COLUMNS),
            decided=sum(tally[c] for c in DECIDED),
            **{column: tally[column] for column in COLUMNS},
            engaged_by_confirmed_match=tally[CONFIRMED_COLUMN],
        )
        for group, tally in sorted(counts.items())
    ]


DECIDED = ("engaged", "triaged", "not_engaged")
CONFIRMED_COLUMN = "engaged_by_confirmed_match"
COLUMNS = (*DECIDED, "engaged_window_open", "triaged_window_open", "pending")


def column_of(link: TransferLink, today: date) -> str:
    """The one column a transfer is counted in."""
    if link.status is LinkStatus.PENDING:
        return "pending"
    # Not engaged is only ever decided when the window closes.
    if link.window_end_date < today or link.status is LinkStatus.NOT_ENGAGED:
        return link.status.value
    return f"{link.status.value}_window_open"
