"""A person's linker state: revisions, withdrawals, clock ticks and what gets published."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import permutations
from typing import Any

from ndtms_contract.episodes import InterventionType, Setting
from ndtms_contract.links import LinkStatus, MatchedOn
from services.linker.matching import EpisodeFacts, InterventionFacts
from services.linker.people import Changes, Person, Policy, apply, confirm, tick
from tests.builders import accepted, community, secure

TODAY = date(2024, 3, 10)
KEY = "k" * 32
POLICY = Policy(grace_days=0, retention_days=1095)


def feed(
    person: Person,
    records: list[dict[str, Any]],
    today: date = TODAY,
    policy: Policy = POLICY,
) -> tuple[Person, list[Changes]]:
    published = []
    for data in records:
        person, changes = apply(person, accepted(data, KEY), today, policy)
        published.append(changes)
    return person, published


def test_release_then_engagement_publishes_pending_then_engaged() -> None:
    _, changes = feed(Person(KEY), [secure(), community()])
    assert [c.published[0].status for c in changes] == [LinkStatus.PENDING, LinkStatus.ENGAGED]


def test_unchanged_outcome_is_not_published_again() -> None:
    _, changes = feed(
        Person(KEY), [secure(), community(), community(revision=2, client={"local_authority": "E08000025"})]
    )
    assert not changes[2]


def test_a_revision_applied_again_publishes_nothing() -> None:
    once, _ = feed(Person(KEY), [secure(), community()])
    twice, changes = feed(Person(KEY), [secure(), community(), community()])
    assert [o.status for o in changes[1].published] == [LinkStatus.ENGAGED]
    assert not changes[2] and changes[2].published == () and twice == once


def test_correction_moves_outcome_back_and_deletion_tombstones_the_transfer() -> None:
    late_start = community(
        revision=2,
        interventions=[{"intervention_id": "CE1-I0", "type": "psychosocial", "start_date": "2024-03-08"}],
        triage_date="2024-03-06",
    )
    person, changes = feed(Person(KEY), [secure(), late_start])
    assert changes[1].published[0].status is LinkStatus.ENGAGED
    corrected = community(revision=3, interventions=[], triage_date="2024-03-06")
    person, changes = feed(person, [corrected])
    assert changes[0].published[0].status is LinkStatus.TRIAGED
    withdrawn = {"provider_id": "PRISON01", "episode_id": "EP1", "revision": 2, "deleted": True}
    person, changes = feed(person, [withdrawn])
    assert changes[0].tombstoned == ("PRISON01/EP1",) and person.outcomes == {}


def test_older_revision_cannot_resurrect_a_withdrawn_episode() -> None:
    withdrawn = {"provider_id": "PRISON01", "episode_id": "EP1", "revision": 2, "deleted": True}
    person, _ = feed(Person(KEY), [withdrawn, secure()])
    assert person.outcomes == {}


def test_clock_tick_closes_the_window() -> None:
    person, _ = feed(Person(KEY), [secure()])
    assert person.due == date(2024, 3, 23)
    person, changes = tick(person, date(2024, 3, 22), POLICY)
    assert not changes
    person, changes = tick(person, date(2024, 3, 23), POLICY)
    assert changes.published[0].status is LinkStatus.NOT_ENGAGED
    assert person.due == date(2024, 3, 1) + timedelta(days=1096)  # next: leaving retention


def test_final_outcomes_do_not_depend_on_arrival_order() -> None:
    records = [
        secure(),
        community(),
        community(revision=2, interventions=[], triage_date="2024-03-20"),
        secure(revision=2, custody={"prison_exit_date": "2024-03-02"}),
    ]
    finals = set()
    for order in permutations(records):
        person, _ = feed(Person(KEY), list(order), today=TODAY + timedelta(days=60))
        finals.add(tuple(sorted((k, o.status, o.triage_date) for k, o in person.outcomes.items())))
    assert len(finals) == 1, finals


def test_triage_days_before_the_recorded_exit_reports_a_doubt_to_the_prison_and_clears_it() -> None:
    early = community(triage_date="2024-02-27", interventions=[])
    person, changes = feed(Person(KEY), [secure(), early])
    [report] = changes[1].reports
    assert (report.provider_id, report.episode_id, report.revision) == ("PRISON01", "EP1", 1)
    assert report.doubt is not None and report.doubt.days_before_exit == 3
    assert changes[1].published == ()  # still pending: the early triage is not a match
    corrected = secure(revision=2, custody={"prison_exit_date": "2024-02-26"}, discharge_date="2024-02-26")
    person, changes = feed(person, [corrected])
    [report] = changes[0].reports
    assert report.doubt is None and report.revision == 2
    assert changes[0].published[0].status is LinkStatus.TRIAGED


def test_a_doubt_is_reported_once_not_again_for_the_same_revision() -> None:
    early = community(triage_date="2024-02-27", interventions=[])
    _, changes = feed(Person(KEY), [secure(), early, early])
    assert [r.doubt is not None for r in changes[1].reports] == [True]
    assert changes[2].reports == ()


def test_deleting_the_prison_episode_clears_its_doubt() -> None:
    early = community(triage_date="2024-02-27", interventions=[])
    withdrawn = {"provider_id": "PRISON01", "episode_id": "EP1", "revision": 2, "deleted": True}
    person, changes = feed(Person(KEY), [secure(), early, withdrawn])
    [report] = changes[2].reports
    assert report.doubt is None and report.revision == 2 and person.doubts == {}


def test_retention_compacts_old_episodes_without_tombstoning_their_links() -> None:
    policy = Policy(grace_days=0, retention_days=365)
    person, _ = feed(Person(KEY), [secure(), community()], policy=policy)
    assert person.due == date(2024, 3, 1) + timedelta(days=366)  # the prison exit leaves retention first
    before_due = person.due - timedelta(days=1)
    person, changes = tick(person, before_due, policy)
    assert not changes and set(person.episodes) == {"PRISON01/EP1", "CMTY001/CE1"}
    person, changes = tick(person, date(2025, 4, 1), policy)
    assert changes.retired == ("CMTY001/CE1", "PRISON01/EP1")
    assert not changes and person.episodes == {} and person.outcomes == {}
    # A redelivered old revision stays retired: nothing comes back, nothing is published.
    person, changes = apply(person, accepted(secure(), KEY), date(2025, 4, 2), policy)
    assert not changes and person.outcomes == {}
    # Markers expire too, and then the person is empty and leaves the table.
    person, _ = tick(person, date(2026, 4, 3), policy)
    assert person.is_empty and person.due is None


def test_an_episode_first_seen_beyond_retention_is_not_linked() -> None:
    policy = Policy(grace_days=0, retention_days=365)
    person, changes = apply(Person(KEY), accepted(secure(), KEY), date(2025, 6, 1), policy)
    assert not changes and changes.retired == ("PRISON01/EP1",) and person.outcomes == {}


def test_retention_keeps_what_an_open_window_still_needs() -> None:
    policy = Policy(grace_days=0, retention_days=60)
    old = community(episode_id="CE0", triage_date="2023-01-05", interventions=[])
    person, _ = feed(
        Person(KEY), [old, secure()], today=date(2024, 3, 10), policy=Policy(retention_days=9999)
    )
    person, changes = tick(person, date(2024, 3, 10), policy)
    assert changes.retired == ("CMTY001/CE0",)
    assert person.outcomes["PRISON01/EP1"].status is LinkStatus.PENDING


def test_a_confirmation_engages_the_transfer_and_its_withdrawal_reverts_it() -> None:
    person, _ = feed(Person(KEY), [secure()])
    [transfer] = person.outcomes
    release = person.outcomes[transfer].prison_exit_date
    elsewhere = EpisodeFacts(
        provider_id="CMTY009",
        episode_id="CX1",
        revision=1,
        setting=Setting.COMMUNITY,
        triage_date=release + timedelta(days=1),
        interventions=(InterventionFacts(InterventionType.PSYCHOSOCIAL, release + timedelta(days=2)),),
    )
    confirmed, changes = confirm(person, transfer, elsewhere, TODAY, POLICY)
    [link] = changes.published
    assert (link.status, link.matched_on, link.community_episode_id) == (
        LinkStatus.ENGAGED,
        MatchedOn.CONFIRMED_CANDIDATE,
        "CX1",
    )
    assert confirm(confirmed, transfer, elsewhere, TODAY, POLICY)[1] == Changes()  # the same again: nothing
    reverted, changes = confirm(confirmed, transfer, None, TODAY, POLICY)
    [back] = changes.published
    assert back.status is person.outcomes[transfer].status and back.matched_on is MatchedOn.CLIENT_KEY
    assert reverted.confirmed == {}
