"""The live continuity-of-care indicator: rolling 12 months of exits, decided transfers only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ndtms.continuity.indicator import COLUMNS, Grouping, indicator, period_start
from ndtms_contract.links import LinkStatus, MatchedOn, TransferLink
from tests.builders import transfer_link

TODAY = date(2025, 6, 30)


def link(
    n: int, exit_date: date, status: LinkStatus, prison: str = "P1", la: str | None = "E1"
) -> TransferLink:
    """A release whose dates say its status: triaged on day 2, structured treatment from day 5."""
    contacted = status in (LinkStatus.ENGAGED, LinkStatus.TRIAGED)
    engaged = 5 if status is LinkStatus.ENGAGED else None
    return transfer_link(
        n,
        exit_date,
        engaged_day=engaged,
        triaged_day=2 if contacted else None,
        prison=prison,
        la=la,
        status=status,
    )


@pytest.mark.parametrize(
    ("today", "start"),
    [(date(2025, 6, 30), date(2024, 7, 1)), (date(2024, 2, 29), date(2023, 3, 1))],
)
def test_period_is_the_year_up_to_today(today: date, start: date) -> None:
    assert period_start(today) == start


def test_denominator_is_decided_transfers_in_the_rolling_year() -> None:
    links = [
        link(1, date(2025, 1, 10), LinkStatus.ENGAGED),
        link(2, date(2025, 1, 11), LinkStatus.TRIAGED),
        link(3, date(2025, 1, 12), LinkStatus.NOT_ENGAGED),
        link(4, date(2025, 1, 13), LinkStatus.NOT_ENGAGED),
        link(5, date(2025, 6, 20), LinkStatus.ENGAGED),  # window still open: not yet decided
        link(6, date(2025, 6, 25), LinkStatus.PENDING),
        link(7, date(2024, 6, 30), LinkStatus.ENGAGED),  # a year and a day ago: outside
        link(8, date(2024, 7, 1), LinkStatus.NOT_ENGAGED),  # exactly the first day counted
    ]
    [row] = indicator(links, TODAY, Grouping.NATIONAL)
    assert (row.transfers, row.decided, row.engaged, row.triaged, row.not_engaged, row.pending) == (
        7,
        5,
        1,
        1,
        3,
        1,
    )
    assert (row.engaged_window_open, row.triaged_window_open) == (1, 0)
    assert row.rate == pytest.approx(1 / 5)


def test_every_release_is_in_exactly_one_column() -> None:
    statuses = list(LinkStatus)
    links = [
        link(n, date(2025, 1, 1) + timedelta(days=n * 3), statuses[n % len(statuses)]) for n in range(60)
    ]
    for by in Grouping:
        for row in indicator(links, TODAY, by):
            columns = (row.engaged, row.triaged, row.not_engaged, row.engaged_window_open)
            assert sum(columns) + row.triaged_window_open + row.pending == row.transfers
            assert row.engaged + row.triaged + row.not_engaged == row.decided


def test_grouped_by_prison_and_by_destination() -> None:
    links = [
        link(1, date(2025, 1, 10), LinkStatus.ENGAGED, "P1", "E1"),
        link(2, date(2025, 1, 10), LinkStatus.NOT_ENGAGED, "P2", None),
    ]
    by_prison = indicator(links, TODAY, Grouping.PRISON)
    assert [(r.group, r.rate) for r in by_prison] == [("P1", 1.0), ("P2", 0.0)]
    by_la = indicator(links, TODAY, Grouping.LA)
    assert [r.group for r in by_la] == ["E1", "unknown"]


def test_nothing_decided_has_no_rate() -> None:
    [row] = indicator([link(1, date(2025, 6, 25), LinkStatus.PENDING)], TODAY, Grouping.NATIONAL)
    assert row.rate is None


def test_the_rate_with_and_without_confirmed_probable_matches() -> None:
    confirmed = link(3, date(2025, 1, 12), LinkStatus.ENGAGED).model_copy(
        update={"matched_on": MatchedOn.CONFIRMED_CANDIDATE}
    )
    still_open = link(5, date(2025, 6, 20), LinkStatus.ENGAGED).model_copy(
        update={"matched_on": MatchedOn.CONFIRMED_CANDIDATE}
    )
    links = [
        link(1, date(2025, 1, 10), LinkStatus.ENGAGED),
        link(2, date(2025, 1, 11), LinkStatus.NOT_ENGAGED),
        confirmed,
        link(4, date(2025, 1, 13), LinkStatus.NOT_ENGAGED),
        still_open,  # window still open: in no rate yet
    ]
    [row] = indicator(links, TODAY, Grouping.NATIONAL)
    assert (row.engaged, row.engaged_by_confirmed_match, row.decided, row.transfers) == (2, 1, 4, 5)
    assert row.rate == 0.5 and row.rate_without_confirmed == 0.25


D = date(2025, 3, 31)


def on(day_offsets: dict[str, int | None], status: LinkStatus, window_end: date, grace: int = 0) -> str:
    """The column, on D, of a release whose window ends on `window_end`, with dates relative to D."""
    exit_date = window_end - timedelta(days=21)
    dates = {k: None if v is None else D + timedelta(days=v) for k, v in day_offsets.items()}
    release = link(1, exit_date, LinkStatus.PENDING).model_copy(update={"status": status, **dates})
    [row] = indicator([release], D, Grouping.NATIONAL, grace_days=grace)
    [column] = [c for c in COLUMNS if getattr(row, c)]
    return column


A_DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("case", "window_end", "status", "dates", "grace", "column"),
    [
        ("no contact, window ended D-1", D - A_DAY, LinkStatus.NOT_ENGAGED, {}, 0, "not_engaged"),
        ("no contact, window ends on D", D, LinkStatus.NOT_ENGAGED, {}, 0, "pending"),
        ("no contact, window ends D+1", D + A_DAY, LinkStatus.NOT_ENGAGED, {}, 0, "pending"),
        ("no contact, window ended D-1, a day's grace", D - A_DAY, LinkStatus.NOT_ENGAGED, {}, 1, "pending"),
        (
            "no contact, window ended D-2, a day's grace",
            D - 2 * A_DAY,
            LinkStatus.NOT_ENGAGED,
            {},
            1,
            "not_engaged",
        ),
        ("still pending now, window ended D-1", D - A_DAY, LinkStatus.PENDING, {}, 0, "not_engaged"),
        (
            "engaged on D, window open",
            D + A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": 0},
            0,
            "engaged_window_open",
        ),
        (
            "engaged on D, window ends on D",
            D,
            LinkStatus.ENGAGED,
            {"structured_start_date": 0},
            0,
            "engaged_window_open",
        ),
        (
            "engaged on D-1, window ended D-1",
            D - A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": -1},
            0,
            "engaged",
        ),
        (
            "engaged on D+1: pending on D",
            D + A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": 1},
            0,
            "pending",
        ),
        (
            "engaged on D+1 after a triage on D-3",
            D + A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": 1, "window_triage_date": -3, "triage_date": -3},
            0,
            "triaged_window_open",
        ),
        (
            "engaged D+1, triaged by another episode D-3",
            D + A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": 1, "window_triage_date": -3, "triage_date": None},
            0,
            "triaged_window_open",
        ),
        (
            "triaged after D",
            D + A_DAY,
            LinkStatus.TRIAGED,
            {"triage_date": 1, "window_triage_date": 1},
            0,
            "pending",
        ),
        (
            "triaged on D, window ended D-1 is impossible; window open",
            D + 2 * A_DAY,
            LinkStatus.TRIAGED,
            {"triage_date": 0, "window_triage_date": 0},
            0,
            "triaged_window_open",
        ),
        (
            "triaged in a window that has closed",
            D - A_DAY,
            LinkStatus.TRIAGED,
            {"triage_date": -5, "window_triage_date": -5},
            0,
            "triaged",
        ),
        (
            "an old record: the deciding episode's own triage, in the window",
            D + A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": 1, "triage_date": -2, "window_triage_date": None},
            0,
            "triaged_window_open",
        ),
        (
            "an old record: that triage before the release does not count",
            D + A_DAY,
            LinkStatus.ENGAGED,
            {"structured_start_date": 1, "triage_date": -40, "window_triage_date": None},
            0,
            "pending",
        ),
    ],
)
def test_a_release_is_judged_on_the_day_from_its_dates_alone(
    case: str, window_end: date, status: LinkStatus, dates: dict[str, int | None], grace: int, column: str
) -> None:
    assert on(dates, status, window_end, grace) == column, case


def test_a_confirmed_match_whose_episode_starts_after_the_day_is_not_engaged_on_it() -> None:
    exit_date = D - timedelta(days=10)
    release = link(1, exit_date, LinkStatus.ENGAGED).model_copy(
        update={
            "matched_on": MatchedOn.CONFIRMED_CANDIDATE,
            "structured_start_date": D + A_DAY,
            "triage_date": None,
            "window_triage_date": None,
        }
    )
    [row] = indicator([release], D, Grouping.NATIONAL)
    assert (row.pending, row.engaged, row.engaged_by_confirmed_match) == (1, 0, 0)
    [later] = indicator([release], D + timedelta(days=30), Grouping.NATIONAL)
    assert (later.engaged, later.engaged_by_confirmed_match, later.rate_without_confirmed) == (1, 1, 0.0)
