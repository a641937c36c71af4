"""The treatment-journey rule at its boundaries."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import permutations

import pytest

from ndtms_contract.episodes import DischargeReason, Setting
from ndtms_contract.journeys import JourneyStatus
from services.journey.journeys import EpisodeSpan, custody_periods_of, journeys_of

D = date(2024, 1, 10)


def episode(
    name: str, start: int, discharged: int | None, setting: Setting = Setting.COMMUNITY
) -> EpisodeSpan:
    return EpisodeSpan(
        provider_id="CMTY001",
        episode_id=name,
        setting=setting,
        referral_date=D + timedelta(days=start),
        discharge_date=D + timedelta(days=discharged) if discharged is not None else None,
        discharge_reason=DischargeReason.INCOMPLETE_DROPPED_OUT if discharged is not None else None,
    )


def grouping(*episodes: EpisodeSpan) -> list[list[str]]:
    return [[e.episode_id for e in j.episodes] for j in journeys_of(episodes)]


@pytest.mark.parametrize(("gap", "expected"), [(21, [["A", "B"]]), (22, [["A"], ["B"]])])
def test_more_than_21_days_after_discharge_starts_a_new_journey(gap: int, expected: list[list[str]]) -> None:
    assert grouping(episode("A", 0, 10), episode("B", 10 + gap, None)) == expected


def test_an_open_earlier_episode_continues_the_journey() -> None:
    assert grouping(episode("A", 0, None), episode("B", 100, 120)) == [["A", "B"]]


def test_earlier_discharged_after_the_later_continues_the_journey() -> None:
    assert grouping(episode("A", 0, 200), episode("B", 100, 150)) == [["A", "B"]]


def test_open_later_episode_counts_as_not_yet_discharged() -> None:
    assert grouping(episode("A", 0, 10), episode("B", 60, None)) == [["A"], ["B"]]


def test_journey_is_open_while_any_episode_is_open_and_closes_with_its_last_discharge() -> None:
    [open_journey] = journeys_of([episode("A", 0, None), episode("B", 5, 30)])
    assert open_journey.status is JourneyStatus.OPEN and open_journey.discharge_date is None
    [closed] = journeys_of([episode("A", 0, 40), episode("B", 5, 30)])
    assert closed.status is JourneyStatus.CLOSED and closed.discharge_date == D + timedelta(days=40)


def test_start_is_first_intervention_else_triage_else_referral() -> None:
    base = episode("A", 0, None)
    assert base.start_date == base.referral_date
    with_triage = EpisodeSpan(**{**base.__dict__, "triage_date": D + timedelta(days=2)})
    assert with_triage.start_date == D + timedelta(days=2)
    with_start = EpisodeSpan(**{**with_triage.__dict__, "first_intervention_start": D + timedelta(days=5)})
    assert with_start.start_date == D + timedelta(days=5)


def test_arrival_order_does_not_matter() -> None:
    episodes = [episode("A", 0, 10), episode("B", 40, 50), episode("C", 60, None)]
    assert len({tuple(map(tuple, grouping(*order))) for order in permutations(episodes)}) == 1


def test_secure_episodes_are_custody_periods_not_journeys() -> None:
    spans = [episode("A", 0, 10), episode("P", 20, 80, Setting.SECURE)]
    assert grouping(*spans) == [["A"]]
    assert [p.episode_id for p in custody_periods_of(spans)] == ["P"]
