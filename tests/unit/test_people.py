"""A person's linker state: revisions, withdrawals, clock ticks and what gets published."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import permutations

from ndtms.contract.links import LinkStatus
from services.linker.people import Person, apply, tick
from tests.builders import accepted, community, secure

TODAY = date(2024, 3, 10)
KEY = "k" * 32


def feed(person: Person, records: list[dict], today: date = TODAY) -> tuple[Person, list]:  # type: ignore[type-arg]
    published = []
    for data in records:
        person, changes = apply(person, accepted(data, KEY), today, 0)
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


def test_redelivered_revision_republishes_current_outcomes() -> None:
    _, changes = feed(Person(KEY), [secure(), community(), community()])
    assert [o.status for o in changes[2].published] == [LinkStatus.ENGAGED]


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
    person, changes = tick(person, date(2024, 3, 22), 0)
    assert not changes
    person, changes = tick(person, date(2024, 3, 23), 0)
    assert changes.published[0].status is LinkStatus.NOT_ENGAGED and person.due is None


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
