"""The live continuity-of-care indicator: rolling 12 months of exits, decided transfers only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ndtms.contract.links import LinkStatus, MatchedOn, TransferLink
from services.linker.indicator import Grouping, indicator, period_start

TODAY = date(2025, 6, 30)


def link(
    n: int, exit_date: date, status: LinkStatus, prison: str = "P1", la: str | None = "E1"
) -> TransferLink:
    return TransferLink(
        transfer_id=f"{prison}/{n}",
        client_key=f"c{n}",
        prison_provider_id=prison,
        prison_episode_id=str(n),
        prison_exit_date=exit_date,
        exit_destination_la=la,
        window_end_date=exit_date + timedelta(days=21),
        status=status,
        decided_at=datetime(2025, 6, 30, tzinfo=UTC),
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
