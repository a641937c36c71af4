"""The continuity-of-care companion report: where releases go, and how many are picked up.

Counted by the indicator's rule (`ndtms.continuity.indicator`: the same columns, the same day
of judgement), over one of two periods:
- the rolling 12 months of exit dates to a day, judged on that day (the live indicator);
- a calendar quarter's own exit dates, judged on its last day (or on the day asked for, when
  the quarter has not ended: `partial`).

It shows:
- `flows`: the prison x destination-LA matrix of releases, the largest pathways first; with a
  prison chosen, its receiving areas; with an LA chosen, its referring prisons;
- `prisons` and `areas`: every prison and destination of the period's releases;
- `total` (the selection), `regions` (the selection by its destination's region) and `national`
  (every release in the period, for comparison);
- `trend`: for each of the 12 quarters ending with the report's, the rolling 12 months to the
  quarter's end and the quarter's own releases, each judged on the quarter's end (the last one,
  unfinished, on the day asked for).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from ndtms.continuity.areas import area_of
from ndtms.continuity.indicator import NATIONAL, Counts, Release, count, tally
from ndtms_contract.periods import Period, Quarter, quarters_to, year_to

TREND_QUARTERS = 12


class NotYetReportable(ValueError):
    """A quarter that has not begun on the day asked for."""


@dataclass(frozen=True)
class Asked:
    """What the report covers: exit dates in `period`, judged on `judged_on`."""

    period: Period
    judged_on: date
    quarter: Quarter  # the trend's last quarter
    prison: str | None = None
    la: str | None = None

    @classmethod
    def rolling_year(cls, day: date, prison: str | None = None, la: str | None = None) -> Asked:
        return cls(year_to(day), day, Quarter.of(day), prison, la)

    @classmethod
    def of_quarter(
        cls, quarter: Quarter, today: date, prison: str | None = None, la: str | None = None
    ) -> Asked:
        if quarter.period.start > today:
            raise NotYetReportable(f"{quarter} has not begun on {today.isoformat()}: no release to report")
        return cls(quarter.period, min(quarter.period.end, today), quarter, prison, la)

    def selects(self, release: Release) -> bool:
        if self.prison is not None and release.prison != self.prison:
            return False
        return self.la is None or release.la == self.la


@dataclass(frozen=True)
class Flow:
    prison: str
    la: str | None  # None: no destination recorded
    counts: Counts


@dataclass(frozen=True)
class RegionRow:
    region: str
    counts: Counts


@dataclass(frozen=True)
class TrendPoint:
    quarter: Quarter
    judged_on: date
    # The quarter had not ended on the day asked for: judged on that day.
    partial: bool
    rolling: Counts  # the 12 months of exits to `judged_on`
    own: Counts  # the quarter's own exits


@dataclass(frozen=True)
class ContinuityReport:
    asked: Asked
    flows: list[Flow]
    total: Counts
    regions: list[RegionRow]
    national: Counts
    trend: list[TrendPoint]
    # Every prison, and every destination, of the period's releases: what there is to choose.
    prisons: list[str]
    areas: list[str | None]


class Releases:
    """Releases in exit-date order, so that a period's are found without reading the rest."""

    def __init__(self, releases: Iterable[Release]):
        self._releases = sorted(releases, key=lambda r: r.exit_date)
        self._exits = [r.exit_date for r in self._releases]

    def __len__(self) -> int:
        return len(self._releases)

    def within(self, period: Period) -> Sequence[Release]:
        low = bisect.bisect_left(self._exits, period.start)
        high = bisect.bisect_right(self._exits, period.end)
        return self._releases[low:high]


def continuity_report(releases: Releases, asked: Asked) -> ContinuityReport:
    in_period = releases.within(asked.period)
    chosen = [r for r in in_period if asked.selects(r)]

    flows = [
        Flow(prison, la, counts)
        for (prison, la), counts in tally(chosen, asked.period, asked.judged_on, _pathway).items()
    ]
    flows.sort(key=lambda f: (-f.counts.transfers, f.prison, f.la or "~"))
    regions = [
        RegionRow(region, counts)
        for region, counts in tally(chosen, asked.period, asked.judged_on, _region).items()
    ]
    regions.sort(key=lambda r: (-r.counts.transfers, r.region))
    return ContinuityReport(
        asked=asked,
        flows=flows,
        total=_one(tally(chosen, asked.period, asked.judged_on, _everyone)),
        regions=regions,
        national=_one(tally(in_period, asked.period, asked.judged_on, _everyone)),
        trend=trend(releases, asked),
        prisons=sorted({r.prison for r in in_period}),
        areas=sorted({r.la for r in in_period}, key=lambda la: la or "~"),
    )


def trend(releases: Releases, asked: Asked) -> list[TrendPoint]:
    points = []
    for quarter in quarters_to(asked.quarter, TREND_QUARTERS):
        day = min(quarter.period.end, asked.judged_on)
        rolling, own = year_to(day), Period(quarter.period.start, day)
        points.append(
            TrendPoint(
                quarter=quarter,
                judged_on=day,
                partial=day < quarter.period.end,
                rolling=count(_chosen(releases, rolling, asked), day),
                own=count(_chosen(releases, own, asked), day),
            )
        )
    return points


def _chosen(releases: Releases, period: Period, asked: Asked) -> Sequence[Release]:
    found = releases.within(period)
    if asked.prison is None and asked.la is None:
        return found
    return [r for r in found if asked.selects(r)]


def _one(counted: dict[str, Counts]) -> Counts:
    return counted.get(NATIONAL, Counts())


def _everyone(release: Release) -> str:
    return NATIONAL


def _pathway(release: Release) -> tuple[str, str | None]:
    return release.prison, release.la


def _region(release: Release) -> str:
    return area_of(release.la).region
