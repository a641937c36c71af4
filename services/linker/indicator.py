"""The continuity-of-care indicator (PHOF 2.16), live, from the current link records.

Over a rolling 12 months of prison exit dates (the year up to and including today):
the denominator is the transfers whose 21-day window has closed and whose outcome is
decided; the numerator is those engaged. Triaged-only and not-engaged counts are the rest
of the denominator. `pending` counts transfers still waiting for an outcome; transfers
engaged while their window is still open are counted in `transfers` but not yet in the
denominator, so the rate does not swing up early in every window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ndtms.contract.links import LinkStatus, TransferLink

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
    pending: int

    @property
    def rate(self) -> float | None:
        """Engaged as a share of decided transfers; None when nothing is decided yet."""
        return self.engaged / self.decided if self.decided else None


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
        tally = counts[group_of(link, by)]
        tally["transfers"] += 1
        if link.status is LinkStatus.PENDING:
            tally["pending"] += 1
        elif link.window_end_date < today:
            tally["decided"] += 1
            tally[link.status.value] += 1
    return [
        IndicatorRow(
            group,
            tally["transfers"],
            tally["decided"],
            tally[LinkStatus.ENGAGED.value],
            tally[LinkStatus.TRIAGED.value],
            tally[LinkStatus.NOT_ENGAGED.value],
            tally["pending"],
        )
        for group, tally in sorted(counts.items())
    ]
