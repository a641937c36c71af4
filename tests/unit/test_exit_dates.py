"""The late-recorded exit date warning (LNK001) at its boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.linker.exit_dates import exit_date_doubts
from tests.unit.test_matching import D, prison, seen


@pytest.mark.parametrize(
    ("triage_day", "doubted"),
    [(-8, False), (-7, True), (-3, True), (-1, True), (0, False), (5, False)],
)
def test_triage_within_a_week_before_the_exit_is_doubted(triage_day: int, doubted: bool) -> None:
    doubts = exit_date_doubts([prison(), seen(triage=triage_day)])
    assert ("PRISON01/EP1" in doubts) is doubted
    if doubted:
        assert doubts["PRISON01/EP1"].days_before_exit == -triage_day


def test_triage_before_the_reception_is_an_earlier_contact_not_a_doubt() -> None:
    received = prison(reception_date=D - timedelta(days=2))
    assert exit_date_doubts([received, seen(triage=-3)]) == {}
    assert "PRISON01/EP1" in exit_date_doubts([received, seen(triage=-1)])


def test_earliest_triage_is_named_and_no_attributor_is_in_the_message() -> None:
    doubts = exit_date_doubts([prison(), seen("CMTY002", "B", triage=-2), seen("CMTY001", "A", triage=-5)])
    doubt = doubts["PRISON01/EP1"]
    assert (doubt.community_provider_id, doubt.triage_date) == ("CMTY001", D - timedelta(days=5))
    assert "2024-03-01" in doubt.message and "CMTY001" in doubt.message


def test_only_transfers_are_checked() -> None:
    kept_in = prison(exit_reason=None, prison_exit_date=date(2024, 3, 1))
    assert exit_date_doubts([kept_in, seen(triage=-2)]) == {}
