"""The 21-day continuity-of-care rule at its boundaries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from ndtms_contract.episodes import DischargeReason, ExitReason, InterventionType, Setting
from ndtms_contract.links import LinkStatus, MatchedOn
from services.linker.matching import EpisodeFacts, InterventionFacts, Outcome, outcomes

D = date(2024, 3, 1)
PH, PS, RS = (
    InterventionType.PHARMACOLOGICAL,
    InterventionType.PSYCHOSOCIAL,
    InterventionType.RECOVERY_SUPPORT,
)


def prison(episode: str = "EP1", exit_date: date | None = D, **overrides: Any) -> EpisodeFacts:
    fields: dict[str, object] = {
        "provider_id": "PRISON01",
        "episode_id": episode,
        "revision": 1,
        "setting": Setting.SECURE,
        "discharge_reason": DischargeReason.TRANSFERRED_NOT_IN_CUSTODY,
        "exit_reason": ExitReason.RELEASED,
        "prison_exit_date": exit_date,
        "exit_destination_la": "E09000033",
    }
    fields.update(overrides)
    return EpisodeFacts(**fields)  # type: ignore[arg-type]


def seen(
    provider: str = "CMTY001",
    episode: str = "CE1",
    triage: int | None = None,
    starts: tuple[tuple[InterventionType, int], ...] = (),
) -> EpisodeFacts:
    return EpisodeFacts(
        provider_id=provider,
        episode_id=episode,
        revision=1,
        setting=Setting.COMMUNITY,
        triage_date=D + timedelta(days=triage) if triage is not None else None,
        interventions=tuple(InterventionFacts(t, D + timedelta(days=d)) for t, d in starts),
    )


def outcome_of(*episodes: EpisodeFacts, today: date = D + timedelta(days=60), grace: int = 0) -> Outcome:
    [result] = outcomes("client", episodes, today, grace).values()
    return result


@pytest.mark.parametrize(
    ("day", "status"),
    [
        (-1, LinkStatus.NOT_ENGAGED),
        (0, LinkStatus.ENGAGED),
        (21, LinkStatus.ENGAGED),
        (22, LinkStatus.NOT_ENGAGED),
    ],
)
def test_structured_start_window_includes_both_ends(day: int, status: LinkStatus) -> None:
    result = outcome_of(prison(), seen(starts=((PH, day),)))
    assert result.status is status
    if status is LinkStatus.ENGAGED:
        assert result.days_to_engagement == day and result.structured_start_date == D + timedelta(days=day)


@pytest.mark.parametrize(
    ("day", "status"), [(0, LinkStatus.TRIAGED), (21, LinkStatus.TRIAGED), (22, LinkStatus.NOT_ENGAGED)]
)
def test_triage_alone_is_triaged_not_engaged(day: int, status: LinkStatus) -> None:
    assert outcome_of(prison(), seen(triage=day)).status is status


def test_recovery_support_only_is_not_structured() -> None:
    assert outcome_of(prison(), seen(triage=3, starts=((RS, 4),))).status is LinkStatus.TRIAGED


def test_reopened_episode_with_old_triage_and_new_intervention_is_engaged() -> None:
    result = outcome_of(prison(), seen(triage=-200, starts=((PS, -190), (PS, 10))))
    assert result.status is LinkStatus.ENGAGED and result.days_to_engagement == 10


def test_earliest_start_wins_and_ties_go_to_lowest_provider_then_episode() -> None:
    result = outcome_of(
        prison(),
        seen("CMTY009", "A", starts=((PH, 5),)),
        seen("CMTY002", "Z", starts=((PH, 5),)),
        seen("CMTY002", "B", starts=((PH, 5),)),
        seen("CMTY001", "X", starts=((PH, 6),)),
    )
    assert (result.community_provider_id, result.community_episode_id) == ("CMTY002", "B")


def test_pending_while_open_then_not_engaged_after_window_and_grace() -> None:
    facts = (prison(),)
    assert outcome_of(*facts, today=D + timedelta(days=21)).status is LinkStatus.PENDING
    assert outcome_of(*facts, today=D + timedelta(days=22)).status is LinkStatus.NOT_ENGAGED
    assert outcome_of(*facts, today=D + timedelta(days=24), grace=3).status is LinkStatus.PENDING
    assert outcome_of(*facts, today=D + timedelta(days=25), grace=3).status is LinkStatus.NOT_ENGAGED


@pytest.mark.parametrize(
    "overrides",
    [
        {"discharge_reason": DischargeReason.INCOMPLETE_ONWARD_REFERRAL_REFUSED},
        {"discharge_reason": DischargeReason.INCOMPLETE_RELEASED_FROM_COURT},
        {"discharge_reason": DischargeReason.TREATMENT_COMPLETED_DRUG_FREE},
        {"exit_reason": ExitReason.TRANSFERRED_TO_ANOTHER_ESTABLISHMENT},
        {"prison_exit_date": None},
    ],
)
def test_only_a_release_transferred_not_in_custody_is_a_transfer(overrides: dict[str, Any]) -> None:
    assert outcomes("client", [prison(**overrides), seen(starts=((PH, 3),))], D, 0) == {}


def test_each_release_is_counted_on_its_own() -> None:
    second = D + timedelta(days=100)
    result = outcomes(
        "client",
        [prison("EP1"), prison("EP2", second), seen(starts=((PH, 102),))],
        D + timedelta(days=200),
        0,
    )
    assert result["PRISON01/EP1"].status is LinkStatus.NOT_ENGAGED
    assert result["PRISON01/EP2"].status is LinkStatus.ENGAGED


def test_a_community_episode_never_matches_on_secure_interventions() -> None:
    other_prison = prison(
        "EP2",
        D - timedelta(days=300),
        discharge_reason=None,
        interventions=(InterventionFacts(PH, D + timedelta(days=2)),),
    )
    assert outcome_of(prison(), other_prison).status is LinkStatus.NOT_ENGAGED


CONFIRMED_ELSEWHERE = seen("CMTY009", "CX1", triage=3, starts=((PS, 5),))


@pytest.mark.parametrize(
    ("own", "confirmed", "status", "matched_on", "episode"),
    [
        # A confirmed probable match counts as the released person's own episode...
        ((), CONFIRMED_ELSEWHERE, LinkStatus.ENGAGED, MatchedOn.CONFIRMED_CANDIDATE, "CX1"),
        ((), seen("CMTY009", "CX1", triage=3), LinkStatus.TRIAGED, MatchedOn.CONFIRMED_CANDIDATE, "CX1"),
        # ...by the same 21-day rule: outside the window it engages nothing.
        ((), seen("CMTY009", "CX1", starts=((PS, 22),)), LinkStatus.NOT_ENGAGED, MatchedOn.CLIENT_KEY, None),
        # An own episode that decides first stays the one named.
        ((seen(starts=((PH, 2),)),), CONFIRMED_ELSEWHERE, LinkStatus.ENGAGED, MatchedOn.CLIENT_KEY, "CE1"),
        # Triaged by the own key, a structured start only in the confirmed one: engaged by it.
        ((seen(triage=1),), CONFIRMED_ELSEWHERE, LinkStatus.ENGAGED, MatchedOn.CONFIRMED_CANDIDATE, "CX1"),
        ((), None, LinkStatus.NOT_ENGAGED, MatchedOn.CLIENT_KEY, None),
    ],
)
def test_a_confirmed_match_counts_by_the_same_rule_and_says_so(
    own: tuple[EpisodeFacts, ...],
    confirmed: EpisodeFacts | None,
    status: LinkStatus,
    matched_on: MatchedOn,
    episode: str | None,
) -> None:
    extra = {} if confirmed is None else {"PRISON01/EP1": confirmed}
    [result] = outcomes("client", (prison(), *own), D + timedelta(days=60), 0, extra).values()
    assert (result.status, result.matched_on, result.community_episode_id) == (status, matched_on, episode)


def test_a_confirmed_match_counts_for_its_own_transfer_only() -> None:
    second = prison("EP2", exit_date=D + timedelta(days=3))
    found = outcomes(
        "client", (prison(), second), D + timedelta(days=60), 0, {"PRISON01/EP2": CONFIRMED_ELSEWHERE}
    )
    assert found["PRISON01/EP1"].status is LinkStatus.NOT_ENGAGED
    assert found["PRISON01/EP2"].status is LinkStatus.ENGAGED
    assert found["PRISON01/EP2"].matched_on is MatchedOn.CONFIRMED_CANDIDATE


@pytest.mark.parametrize(
    ("episodes", "window_triage"),
    [
        # Engaged on day 15 by one episode, triaged on day 3 by another: both dates are kept.
        ((seen("CMTY001", "A", triage=14, starts=((PH, 15),)), seen("CMTY002", "B", triage=3)), 3),
        # The engaging episode's own triage before the release is not in the window.
        ((seen("CMTY001", "A", triage=-5, starts=((PH, 15),)),), None),
        ((seen("CMTY001", "A", triage=0),), 0),
        ((seen("CMTY001", "A", triage=21),), 21),
        ((seen("CMTY001", "A", triage=22),), None),
        ((), None),
    ],
)
def test_the_earliest_triage_in_the_window_is_recorded_whatever_decided(
    episodes: tuple[EpisodeFacts, ...], window_triage: int | None
) -> None:
    result = outcome_of(prison(), *episodes)
    expected = D + timedelta(days=window_triage) if window_triage is not None else None
    assert result.window_triage_date == expected
