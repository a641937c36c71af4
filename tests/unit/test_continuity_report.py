"""The companion report: flows, regions and trend, counted by the indicator's own rule."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ndtms.continuity.areas import NO_DESTINATION, REGION_NOT_KNOWN, REGIONS, area_of, listed_areas
from ndtms.continuity.indicator import Counts, Grouping, Release, indicator
from ndtms.continuity.report import (
    TREND_QUARTERS,
    Asked,
    ContinuityReport,
    NotYetReportable,
    Releases,
    continuity_report,
)
from ndtms_contract.links import TransferLink
from ndtms_contract.periods import Period, Quarter, quarters_to, year_to
from tests.builders import transfer_link as link

WESTMINSTER, BIRMINGHAM = "E09000033", "E08000025"


def report(links: list[TransferLink], asked: Asked, grace: int = 0) -> ContinuityReport:
    return continuity_report(Releases(Release.of(x, grace) for x in links), asked)


def columns(counts: Counts) -> tuple[int, int, int, int, int]:
    return counts.transfers, counts.decided, counts.engaged, counts.triaged, counts.still_open


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025Q1", date(2025, 1, 1), date(2025, 3, 31)),
        ("2024Q1", date(2024, 1, 1), date(2024, 3, 31)),  # a leap year's February inside
        ("2025Q2", date(2025, 4, 1), date(2025, 6, 30)),
        ("2025Q3", date(2025, 7, 1), date(2025, 9, 30)),
        ("2025Q4", date(2025, 10, 1), date(2025, 12, 31)),
    ],
)
def test_quarters_are_calendar_quarters(text: str, start: date, end: date) -> None:
    quarter = Quarter.parse(text)
    assert quarter.period == Period(start, end) and str(quarter) == text
    assert Quarter.of(start) == Quarter.of(end) == quarter


@pytest.mark.parametrize("text", ["2025Q5", "2025Q0", "2025-Q1", "25Q1", "2025q1", "Q1 2025", "1899Q4"])
def test_a_quarter_written_otherwise_is_refused_saying_how(text: str) -> None:
    with pytest.raises(ValueError, match=r"2025Q1|1900"):
        Quarter.parse(text)


def test_twelve_quarters_end_with_the_one_asked_for_across_year_ends() -> None:
    listed = quarters_to(Quarter(2025, 2), TREND_QUARTERS)
    assert [str(q) for q in listed[:3]] == ["2022Q3", "2022Q4", "2023Q1"] and str(listed[-1]) == "2025Q2"
    # The rolling year to a quarter's end is exactly that quarter and the three before it.
    assert year_to(Quarter(2025, 2).period.end) == Period(date(2024, 7, 1), date(2025, 6, 30))


@pytest.mark.parametrize(
    ("exit_date", "in_q1", "in_q2"),
    [
        (date(2024, 12, 31), 0, 0),  # the day before the quarter
        (date(2025, 1, 1), 1, 0),  # its first day
        (date(2025, 3, 31), 1, 0),  # its last day
        (date(2025, 4, 1), 0, 1),  # the next quarter's first day
    ],
)
def test_a_quarter_counts_the_releases_of_its_own_days(exit_date: date, in_q1: int, in_q2: int) -> None:
    today = date(2025, 12, 1)
    links = [link(1, exit_date, engaged_day=3)]
    for quarter, wanted in ((Quarter(2025, 1), in_q1), (Quarter(2025, 2), in_q2)):
        found = report(links, Asked.of_quarter(quarter, today))
        assert found.total.transfers == wanted, quarter


def test_a_window_across_the_quarter_end_is_open_in_its_quarter_and_decided_after() -> None:
    # Released 20 March, structured start 2 April (day 13): on 31 March nothing yet.
    links = [link(1, date(2025, 3, 20), engaged_day=13)]
    q1 = report(links, Asked.of_quarter(Quarter(2025, 1), date(2025, 12, 1)))
    assert columns(q1.total) == (1, 0, 0, 0, 1)
    assert q1.asked.judged_on == date(2025, 3, 31)
    # Judged at the end of the next quarter, the rolling year has it decided and engaged.
    later = report(links, Asked.of_quarter(Quarter(2025, 2), date(2025, 12, 1)))
    point = later.trend[-1]
    assert point.quarter == Quarter(2025, 2) and columns(point.rolling) == (1, 1, 1, 0, 0)
    assert columns(point.own) == (0, 0, 0, 0, 0)  # released in Q1, not Q2
    previous = later.trend[-2]
    assert previous.quarter == Quarter(2025, 1) and columns(previous.own) == (1, 0, 0, 0, 1)


def test_a_confirmed_match_counts_engaged_and_is_left_out_of_the_rate_without_confirmed() -> None:
    links = [
        link(1, date(2025, 1, 10), engaged_day=5, confirmed=True),
        link(2, date(2025, 1, 11), engaged_day=5),
        link(3, date(2025, 1, 12)),
        link(4, date(2025, 1, 13), triaged_day=2),
    ]
    found = report(links, Asked.rolling_year(date(2025, 6, 30)))
    total = found.total
    assert (total.engaged, total.engaged_by_confirmed_match, total.decided) == (2, 1, 4)
    assert total.rate == 0.5 and total.rate_without_confirmed == 0.25


def test_a_release_no_longer_on_the_links_is_not_counted() -> None:
    """A withdrawn prison episode takes its link record away (a tombstone): the report counts
    the links as they stand, so a withdrawn release is in no figure."""
    kept, withdrawn = link(1, date(2025, 2, 1), engaged_day=2), link(2, date(2025, 2, 2), engaged_day=2)
    before = report([kept, withdrawn], Asked.rolling_year(date(2025, 6, 30)))
    after = report([kept], Asked.rolling_year(date(2025, 6, 30)))
    assert before.total.transfers == 2 and after.total.transfers == 1
    assert [f.counts.transfers for f in after.flows] == [1]


def test_a_release_with_no_destination_is_a_flow_of_its_own_and_in_no_region() -> None:
    links = [link(1, date(2025, 2, 1), la=None), link(2, date(2025, 2, 2), engaged_day=1)]
    found = report(links, Asked.rolling_year(date(2025, 6, 30)))
    assert {(f.prison, f.la) for f in found.flows} == {("P1", None), ("P1", WESTMINSTER)}
    assert {r.region for r in found.regions} == {NO_DESTINATION, "London"}


def test_flows_largest_first_and_filtered_by_prison_or_by_area() -> None:
    day = date(2025, 6, 30)
    links = [
        link(1, date(2025, 1, 1), prison="P1", la=WESTMINSTER, engaged_day=2),
        link(2, date(2025, 1, 2), prison="P1", la=BIRMINGHAM),
        link(3, date(2025, 1, 3), prison="P1", la=BIRMINGHAM, engaged_day=4),
        link(4, date(2025, 1, 4), prison="P2", la=WESTMINSTER),
        link(5, date(2024, 6, 30), prison="P2", la=WESTMINSTER),  # a year and a day ago: out
    ]
    everything = report(links, Asked.rolling_year(day))
    pathways = [(f.prison, f.la, f.counts.transfers) for f in everything.flows]
    assert pathways == [("P1", BIRMINGHAM, 2), ("P1", WESTMINSTER, 1), ("P2", WESTMINSTER, 1)]
    assert everything.national == everything.total

    receiving = report(links, Asked.rolling_year(day, prison="P1"))
    assert [(f.la, f.counts.rate) for f in receiving.flows] == [(BIRMINGHAM, 0.5), (WESTMINSTER, 1.0)]
    assert receiving.total.transfers == 3 and receiving.national.transfers == 4

    referring = report(links, Asked.rolling_year(day, la=WESTMINSTER))
    assert [(f.prison, f.counts.transfers) for f in referring.flows] == [("P1", 1), ("P2", 1)]
    assert [r.region for r in referring.regions] == ["London"]


def test_the_trend_is_the_indicator_at_each_quarter_end_and_the_last_is_partial() -> None:
    day = date(2025, 5, 15)
    links = [
        link(
            n, date(2022, 7, 1) + timedelta(days=37 * n), engaged_day=n % 30 if n % 3 else None, triaged_day=4
        )
        for n in range(30)
    ]
    found = report(links, Asked.rolling_year(day))
    points = found.trend
    assert len(points) == TREND_QUARTERS and points[-1].quarter == Quarter(2025, 2)
    assert points[-1].partial and points[-1].judged_on == day
    assert not any(p.partial for p in points[:-1])
    for point in points:
        # One definition: each rolling figure is the live indicator on that day.
        rows = indicator(links, point.judged_on, Grouping.NATIONAL)
        wanted = (rows[0].transfers, rows[0].decided, rows[0].engaged) if rows else (0, 0, 0)
        assert (point.rolling.transfers, point.rolling.decided, point.rolling.engaged) == wanted
    assert sum(p.own.transfers for p in points) == len(
        [x for x in links if points[0].quarter.period.start <= x.prison_exit_date <= day]
    )


def test_a_quarter_not_yet_begun_is_refused_and_the_current_one_is_judged_today() -> None:
    with pytest.raises(NotYetReportable, match="2025Q3 has not begun"):
        Asked.of_quarter(Quarter(2025, 3), date(2025, 6, 30))
    asked = Asked.of_quarter(Quarter(2025, 2), date(2025, 5, 1))
    assert asked.period == Quarter(2025, 2).period and asked.judged_on == date(2025, 5, 1)


@pytest.mark.parametrize(
    ("code", "name", "region"),
    [
        (WESTMINSTER, "Westminster", "London"),
        (BIRMINGHAM, "Birmingham", "West Midlands"),
        ("E10000023", "North Yorkshire (before 2023)", "Yorkshire and The Humber"),
        ("E06000065", "North Yorkshire", "Yorkshire and The Humber"),
        ("E07000178", "E07000178", REGION_NOT_KNOWN),  # a district: not an NDTMS reporting area
        ("X99999998", "Outside England", "Outside England"),
        (None, NO_DESTINATION, NO_DESTINATION),
    ],
)
def test_areas_by_code(code: str | None, name: str, region: str) -> None:
    assert (area_of(code).name, area_of(code).region) == (name, region)


def test_every_listed_area_is_in_one_of_the_nine_regions_or_outside_england() -> None:
    assert {a.region for a in listed_areas()} == {*REGIONS, "Outside England"}
