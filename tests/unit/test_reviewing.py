"""The review queue's order and filters, the side-by-side view, and what a decision refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ndtms_apps.pages.review.desk import DecisionDesk, DecisionOutcome
from ndtms_apps.pages.review.rules import (
    CandidateSuperseded,
    DecisionNotRecorded,
    NoSuchCandidate,
    side_by_side,
    waiting,
)
from ndtms_contract.candidates import Band, Decision, DifferenceKind, LinkCandidate, MatchVerdict
from ndtms_contract.episodes import DischargeReason, ExitReason, Setting
from ndtms_contract.settings import PlatformSettings
from services.linker.comparisons import Attributors
from services.linker.matching import EpisodeFacts
from services.linker.proposals import HeldEpisode

TODAY = date(2026, 5, 20)


def candidate(
    episode: str,
    window_end: date,
    probability: float = 0.95,
    band: Band = Band.LIKELY,
    prison: str = "PRISON01",
    decision: Decision = Decision.OPEN,
    differences: tuple[DifferenceKind, ...] = (),
) -> LinkCandidate:
    return LinkCandidate(
        transfer_id=f"{prison}/{episode}",
        prison_provider_id=prison,
        prison_episode_id=episode,
        prison_exit_date=window_end - timedelta(days=21),
        window_end_date=window_end,
        community_provider_id="CMTY001",
        community_episode_id=f"C-{episode}",
        band=band,
        match_weight=5.0,
        probability=probability,
        differences=differences,
        model_version="match-model-v1",
        decision=decision,
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # Oldest window first; within a window the most probable first; the key breaks ties.
        ({}, ["A", "C", "B", "E"]),
        ({"band": Band.POSSIBLE}, ["C"]),
        ({"prison": "PRISON02"}, ["E"]),
        ({"decided_too": True}, ["A", "C", "B", "D", "E"]),
    ],
)
def test_the_queue_order_and_filters(filters: dict[str, object], expected: list[str]) -> None:
    pool = [
        candidate("B", TODAY + timedelta(days=3), 0.99),
        candidate("A", TODAY, 0.91),
        candidate("C", TODAY, 0.5, Band.POSSIBLE),
        candidate("D", TODAY + timedelta(days=3), 0.9, decision=Decision.REJECTED),
        candidate("E", TODAY + timedelta(days=9), prison="PRISON02"),
    ]
    rows = waiting(pool, TODAY, **filters)  # type: ignore[arg-type]
    assert [r.candidate.prison_episode_id for r in rows] == expected


@pytest.mark.parametrize(
    ("window_end", "left"), [(TODAY, 0), (TODAY + timedelta(days=1), 1), (TODAY - timedelta(days=2), -2)]
)
def test_days_left_count_to_the_window_end(window_end: date, left: int) -> None:
    [row] = waiting([candidate("A", window_end)], TODAY)
    assert row.days_left == left
    assert row.as_json()["days_left"] == left and row.as_json()["key"] == "PRISON01/A|CMTY001/C-A"


def held(key: str, who: Attributors, setting: Setting, la: str | None = None) -> HeldEpisode:
    provider, episode = key.split("/")
    if setting is Setting.SECURE:
        facts = EpisodeFacts(
            provider,
            episode,
            1,
            setting,
            discharge_reason=DischargeReason.TRANSFERRED_NOT_IN_CUSTODY,
            prison_exit_date=TODAY,
            exit_reason=ExitReason.RELEASED,
            exit_destination_la="E09000001",
        )
    else:
        facts = EpisodeFacts(provider, episode, 1, setting, triage_date=TODAY)
    return HeldEpisode("k", who, la, facts)


def test_side_by_side_marks_what_the_model_saw_in_words() -> None:
    found = candidate(
        "A",
        TODAY,
        differences=(
            DifferenceKind(attribute="date_of_birth", kind="day_month_transposed"),
            DifferenceKind(attribute="initials", kind="swapped"),
        ),
    )
    prison = held("PRISON01/A", Attributors("J", "S", date(1985, 3, 2), "male"), Setting.SECURE)
    community = held(
        "CMTY001/C-A", Attributors("S", "J", date(1985, 2, 3), "male"), Setting.COMMUNITY, "E09000001"
    )
    lines = {line.attribute: line for line in side_by_side(found, prison, community)}
    assert (lines["date_of_birth"].prison, lines["date_of_birth"].community) == ("1985-03-02", "1985-02-03")
    assert lines["date_of_birth"].difference == "day and month swapped"
    assert lines["initials"].difference == "first and second swapped"
    assert lines["sex"].difference is None and lines["local_authority"].difference is None
    assert (lines["local_authority"].prison, lines["local_authority"].community) == ("E09000001", "E09000001")


class Trail:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, actor: str, action: object, subject: str, detail: str = "") -> None:
        self.events.append((subject, detail))


def desk(trail: Trail) -> DecisionDesk:
    # No broker: every case here is refused or a no-op before anything would be written.
    settings = PlatformSettings(
        kafka_bootstrap_servers="127.0.0.1:1", schema_registry_url="http://127.0.0.1:1"
    )
    return DecisionDesk(settings, trail, lambda: datetime(2026, 5, 20, 9, tzinfo=UTC), timeout=0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("held_decision", "asked", "outcome"),
    [
        (None, MatchVerdict.CONFIRMED, NoSuchCandidate),
        (Decision.SUPERSEDED, MatchVerdict.CONFIRMED, CandidateSuperseded),
        (Decision.SUPERSEDED, MatchVerdict.REJECTED, CandidateSuperseded),
        (Decision.CONFIRMED, MatchVerdict.CONFIRMED, DecisionOutcome.ALREADY),
        (Decision.REJECTED, MatchVerdict.REJECTED, DecisionOutcome.ALREADY),
    ],
)
def test_what_a_decision_refuses_or_leaves_alone(
    held_decision: Decision | None, asked: MatchVerdict, outcome: object
) -> None:
    trail = Trail()
    found = None if held_decision is None else candidate("A", TODAY, decision=held_decision)
    if isinstance(outcome, type):
        with pytest.raises(outcome):
            desk(trail).decide("PRISON01/A|CMTY001/C-A", found, asked, "reviewer")
    else:
        assert desk(trail).decide("PRISON01/A|CMTY001/C-A", found, asked, "reviewer") == (outcome, None)
    assert trail.events == []  # nothing audited: nothing was decided


def test_a_decision_the_broker_never_had_is_not_recorded() -> None:
    trail = Trail()
    with pytest.raises(DecisionNotRecorded):
        desk(trail).decide(
            "PRISON01/A|CMTY001/C-A", candidate("A", TODAY), MatchVerdict.CONFIRMED, "reviewer"
        )
    assert trail.events == [("PRISON01/A|CMTY001/C-A", "confirmed")]  # the attempt is on the trail
