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

Every release is judged on the day asked for from its dates alone, so a past quarter is
reported as it stood on its last day, whatever happened since: a structured start or a triage
counts only on or before that day, and a window is decided only from the day the linker would
call an unmatched release not engaged (exit + 21 days + grace, then one day more).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ndtms.contract.links import LinkStatus, MatchedOn, TransferLink
from services.linker.matching import closes_on

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


def indicator(
    links: Iterable[TransferLink], today: date, by: Grouping, grace_days: int = 0
) -> list[IndicatorRow]:
    start = period_start(today)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for link in links:
        if not start <= link.prison_exit_date <= today:
            continue
        column = column_on(link, today, grace_days)
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


def column_on(link: TransferLink, day: date, grace_days: int) -> str:
    """The one column a release is in on `day`, from its dates alone."""
    decided = day >= closes_on(link.prison_exit_date, grace_days)
    start = link.structured_start_date if link.status is LinkStatus.ENGAGED else None
    if start is not None and start <= day:
        return "engaged" if decided else "engaged_window_open"
    triage = window_triage(link)
    if triage is not None and triage <= day:
        return "triaged" if decided else "triaged_window_open"
    return "not_engaged" if decided else "pending"


def window_triage(link: TransferLink) -> date | None:
    """The earliest triage in the window. Records written before `window_triage_date` existed
    carry only the deciding episode's own triage, which is the best they can tell."""
    in_window = [
        d
        for d in (link.window_triage_date, link.triage_date)
        if d is not None and link.prison_exit_date <= d <= link.window_end_date
    ]
    return min(in_window, default=None)
