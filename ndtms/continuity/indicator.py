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

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from ndtms.continuity.window import closes_on
from ndtms_contract.links import LinkStatus, MatchedOn, TransferLink
from ndtms_contract.periods import Period, year_to

NATIONAL = "England"
UNKNOWN_LA = "unknown"
DECIDED = ("engaged", "triaged", "not_engaged")
CONFIRMED_COLUMN = "engaged_by_confirmed_match"
COLUMNS = (*DECIDED, "engaged_window_open", "triaged_window_open", "pending")
K = TypeVar("K", bound=Hashable)


class Grouping(StrEnum):
    NATIONAL = "national"
    PRISON = "prison"
    LA = "la"


@dataclass(frozen=True, slots=True)
class Release:
    """What the rule needs of one link record, its deciding dates worked out once."""

    prison: str
    la: str | None
    exit_date: date
    # The structured start that engaged it, the earliest triage in its window, the first day
    # it is decided: each counts on a day only from that day on.
    engaged_on: date | None
    triaged_on: date | None
    decided_on: date
    by_confirmed_match: bool
    # From this day on its column no longer changes (the latest of the three days above), and
    # is `final`: most releases a report counts are past it, so most are judged by one comparison.
    settled_on: date
    final: str

    @classmethod
    def of(cls, link: TransferLink, grace_days: int) -> Release:
        engaged_on = link.structured_start_date if link.status is LinkStatus.ENGAGED else None
        triaged_on = window_triage(link)
        decided_on = closes_on(link.prison_exit_date, grace_days)
        settled_on = max(d for d in (decided_on, engaged_on, triaged_on) if d is not None)
        return cls(
            prison=link.prison_provider_id,
            la=link.exit_destination_la,
            exit_date=link.prison_exit_date,
            engaged_on=engaged_on,
            triaged_on=triaged_on,
            decided_on=decided_on,
            by_confirmed_match=link.matched_on is MatchedOn.CONFIRMED_CANDIDATE,
            settled_on=settled_on,
            final=_column(engaged_on, triaged_on, decided_on, settled_on),
        )

    def column_on(self, day: date) -> str:
        """The one column the release is in on `day`."""
        if day >= self.settled_on:
            return self.final
        return _column(self.engaged_on, self.triaged_on, self.decided_on, day)


def _column(engaged_on: date | None, triaged_on: date | None, decided_on: date, day: date) -> str:
    decided = day >= decided_on
    if engaged_on is not None and engaged_on <= day:
        return "engaged" if decided else "engaged_window_open"
    if triaged_on is not None and triaged_on <= day:
        return "triaged" if decided else "triaged_window_open"
    return "not_engaged" if decided else "pending"


@dataclass(frozen=True)
class Counts:
    engaged: int = 0
    triaged: int = 0
    not_engaged: int = 0
    engaged_window_open: int = 0
    triaged_window_open: int = 0
    pending: int = 0
    # Of `engaged`, those engaged through a probable match a person confirmed.
    engaged_by_confirmed_match: int = 0

    @property
    def transfers(self) -> int:
        return sum(getattr(self, column) for column in COLUMNS)

    @property
    def decided(self) -> int:
        return self.engaged + self.triaged + self.not_engaged

    @property
    def still_open(self) -> int:
        """Releases whose window (and grace) has not closed on the day: not yet in the rate."""
        return self.engaged_window_open + self.triaged_window_open + self.pending

    @property
    def rate(self) -> float | None:
        """Engaged as a share of decided transfers; None when nothing is decided yet."""
        return self.engaged / self.decided if self.decided else None

    @property
    def rate_without_confirmed(self) -> float | None:
        """The rate as if no probable match had been confirmed (exact client keys only)."""
        return (self.engaged - self.engaged_by_confirmed_match) / self.decided if self.decided else None


def count(releases: Sequence[Release], day: date) -> Counts:
    """The releases in each column on `day`."""
    columns = Counter(r.column_on(day) for r in releases)
    confirmed = sum(1 for r in releases if r.by_confirmed_match and r.column_on(day) == "engaged")
    return Counts(**columns, engaged_by_confirmed_match=confirmed)


def within(releases: Iterable[Release], period: Period) -> list[Release]:
    """The releases whose exit date is in `period`."""
    start, end = period.start, period.end
    return [r for r in releases if start <= r.exit_date <= end]


def tally(
    releases: Iterable[Release], period: Period, day: date, key: Callable[[Release], K]
) -> dict[K, Counts]:
    """The counts per `key` of the releases whose exit date is in `period`, judged on `day`."""
    groups: dict[K, list[Release]] = defaultdict(list)
    for release in within(releases, period):
        groups[key(release)].append(release)
    return {k: count(group, day) for k, group in groups.items()}


@dataclass(frozen=True)
class IndicatorRow(Counts):
    group: str = NATIONAL


def period_start(today: date) -> date:
    """The first exit date counted: the day after the same date a year earlier."""
    return year_to(today).start


def group_of(release: Release, by: Grouping) -> str:
    if by is Grouping.PRISON:
        return release.prison
    if by is Grouping.LA:
        return release.la or UNKNOWN_LA
    return NATIONAL


def indicator(
    links: Iterable[TransferLink], today: date, by: Grouping, grace_days: int = 0
) -> list[IndicatorRow]:
    releases = (Release.of(link, grace_days) for link in links)
    counted = tally(releases, year_to(today), today, lambda r: group_of(r, by))
    return [IndicatorRow(group=group, **vars(counts)) for group, counts in sorted(counted.items())]


def column_on(link: TransferLink, day: date, grace_days: int) -> str:
    """The one column a release is in on `day`, from its dates alone."""
    return Release.of(link, grace_days).column_on(day)


def window_triage(link: TransferLink) -> date | None:
    """The earliest triage in the window. Records written before `window_triage_date` existed
    carry only the deciding episode's own triage, which is the best they can tell."""
    in_window = [
        d
        for d in (link.window_triage_date, link.triage_date)
        if d is not None and link.prison_exit_date <= d <= link.window_end_date
    ]
    return min(in_window, default=None)
