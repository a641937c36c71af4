"""The review queue: which candidates hold, their decisions, and what changes are published."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from ndtms_contract.candidates import Band, Decision, LinkCandidate
from ndtms_contract.episodes import DischargeReason, ExitReason, InterventionType, Setting
from services.linker.comparisons import Attributors
from services.linker.match_model import default_model
from services.linker.matching import EpisodeFacts, InterventionFacts
from services.linker.proposals import (
    HeldEpisode,
    MatchBook,
    Ruling,
    candidate_key,
    changes,
    current,
)

MODEL = default_model()
EXIT = date(2026, 3, 1)
TODAY = EXIT + timedelta(days=30)
NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)
XQ = Attributors("X", "Q", date(1985, 3, 2), "male")


def prison(
    key: str = "k-prison", who: Attributors = XQ, episode: str = "P1", exit_date: date = EXIT
) -> HeldEpisode:
    facts = EpisodeFacts(
        provider_id="PRISON",
        episode_id=episode,
        revision=1,
        setting=Setting.SECURE,
        discharge_reason=DischargeReason.TRANSFERRED_NOT_IN_CUSTODY,
        reception_date=exit_date - timedelta(days=120),
        prison_exit_date=exit_date,
        exit_reason=ExitReason.RELEASED,
        exit_destination_la="E1",
    )
    return HeldEpisode(key, who, None, facts)


def community(
    key: str, who: Attributors, episode: str, start: date | None, triage: date | None = None
) -> HeldEpisode:
    interventions = (InterventionFacts(InterventionType.PSYCHOSOCIAL, start),) if start else ()
    facts = EpisodeFacts(
        provider_id="CMTY",
        episode_id=episode,
        revision=1,
        setting=Setting.COMMUNITY,
        triage_date=triage or start,
        interventions=interventions,
    )
    return HeldEpisode(key, who, "E1", facts)


TRANSPOSED = replace(XQ, date_of_birth=date(1985, 2, 3))
KEY = candidate_key("PRISON/P1", "CMTY/C1")


def test_a_release_not_engaged_by_its_own_key_gets_its_look_alike_as_a_likely_candidate() -> None:
    queue = current(
        [prison(), community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=4))], {}, TODAY, 0, MODEL
    )
    [view] = queue.values()
    assert view.key == KEY and view.band is Band.LIKELY and view.decision is Decision.OPEN
    assert (view.prison_exit_date, view.window_end_date) == (EXIT, EXIT + timedelta(days=21))
    assert view.structured_start_date == EXIT + timedelta(days=4)
    assert [(d.attribute, d.kind) for d in view.differences] == [("date_of_birth", "day_month_transposed")]
    assert view.model_version == "match-model-v1"


def test_no_candidates_for_a_release_engaged_by_its_own_client_key() -> None:
    own = community("k-prison", XQ, "C0", EXIT + timedelta(days=2))
    other = community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=4))
    assert current([prison(), own, other], {}, TODAY, 0, MODEL) == {}
    # Triaged only by its own key: still searched (a structured start elsewhere may be theirs).
    triaged = community("k-prison", XQ, "C0", None, triage=EXIT + timedelta(days=2))
    assert set(current([prison(), triaged, other], {}, TODAY, 0, MODEL)) == {KEY}


def test_decisions_rejected_never_again_confirmed_kept_and_two_candidates_are_possible() -> None:
    other = community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=4))
    rejected = {KEY: Ruling(Decision.REJECTED, "op", NOW)}
    assert current([prison(), other], rejected, TODAY, 0, MODEL) == {}
    confirmed = {KEY: Ruling(Decision.CONFIRMED, "op", NOW)}
    [view] = current([prison(), other], confirmed, TODAY, 0, MODEL).values()
    assert (view.decision, view.decided_by, view.decided_at) == (Decision.CONFIRMED, "op", NOW)
    second = community("k-third", replace(XQ, first_initial="R"), "C2", EXIT + timedelta(days=6))
    queue = current([prison(), other, second], {}, TODAY, 0, MODEL)
    assert {v.band for v in queue.values()} == {Band.POSSIBLE} and len(queue) == 2


def view_of(decision: Decision = Decision.OPEN) -> LinkCandidate:
    queue = current(
        [prison(), community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=4))], {}, TODAY, 0, MODEL
    )
    return queue[KEY].model_copy(update={"decision": decision})


@pytest.mark.parametrize(
    ("published", "now", "there", "expected"),
    [
        ({}, {KEY: Decision.OPEN}, True, Decision.OPEN),  # new: published
        ({KEY: Decision.OPEN}, {KEY: Decision.OPEN}, True, "nothing"),  # unchanged: nothing
        ({KEY: Decision.OPEN}, {}, True, Decision.SUPERSEDED),  # the evidence went
        ({KEY: Decision.CONFIRMED}, {}, True, Decision.SUPERSEDED),  # a confirmed match reverts
        ({KEY: Decision.OPEN}, {}, False, None),  # the release or the episode went: tombstone
        ({KEY: Decision.REJECTED}, {}, True, "nothing"),  # rejected stays rejected
        ({KEY: Decision.SUPERSEDED}, {}, True, "nothing"),
        ({KEY: Decision.OPEN}, {KEY: Decision.CONFIRMED}, True, Decision.CONFIRMED),
    ],
)
def test_what_is_published_when_the_queue_changes(
    published: dict[str, Decision], now: dict[str, Decision], there: bool, expected: object
) -> None:
    out = changes(
        {k: view_of(d) for k, d in published.items()},
        {k: view_of(d) for k, d in now.items()},
        {KEY: there},
        NOW,
    )
    if expected == "nothing":
        assert out == {}
    elif expected is None:
        assert out == {KEY: None}
    else:
        view = out[KEY]
        assert view is not None and view.decision is expected


def test_a_correction_that_removes_the_evidence_supersedes_the_candidate() -> None:
    other = community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=4))
    before = current([prison(), other], {}, TODAY, 0, MODEL)
    moved = community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=40))  # out of the window
    after = current([prison(), moved], {}, TODAY, 0, MODEL)
    out = changes(before, after, {KEY: True}, NOW)
    superseded = out[KEY]
    assert (
        superseded is not None and superseded.decision is Decision.SUPERSEDED and superseded.decided_at == NOW
    )


@pytest.mark.parametrize("grace_days", [0, 7])
@pytest.mark.parametrize(
    ("day", "within"), [(-1, False), (0, True), (21, True), ("last", True), ("after", False)]
)
@pytest.mark.parametrize("release_first", [True, False])
def test_a_community_episode_is_proposed_for_a_release_exactly_when_it_falls_in_the_window(
    grace_days: int, day: int | str, within: bool, release_first: bool
) -> None:
    """Whichever arrives second, and whether its initials or its date of birth are what it
    shares: the window with the linker's grace decides, to the day (the date of birth differs
    here, so the initials block, looked up by week, is what finds the release)."""
    offset = {"last": 21 + grace_days, "after": 22 + grace_days}.get(str(day), day)
    assert isinstance(offset, int)
    other = community("k-other", TRANSPOSED, "C1", EXIT + timedelta(days=offset))
    book = MatchBook(MODEL, grace_days)
    for episode in (prison(), other) if release_first else (other, prison()):
        book.put(episode.key, episode)
    assert (KEY in book.views()) is within


def random_episode(rng: random.Random, n: int) -> HeldEpisode:
    """Few initials and dates, so that many pairs are near one another."""
    who = Attributors(
        rng.choice("XQJ"), rng.choice("QXS"), date(1985, rng.choice((2, 3)), rng.choice((2, 3, 12))), "male"
    )
    key = f"k{rng.randrange(8)}"
    day = EXIT + timedelta(days=rng.randrange(-5, 30))
    if rng.random() < 0.4:
        return prison(key, who, f"P{n % 6}", exit_date=day)
    start = day if rng.random() < 0.7 else None
    return community(key, who, f"C{n % 9}", start, triage=day)


def queues(seed: int, settle_every: int = 1) -> tuple[dict[str, LinkCandidate], dict[str, LinkCandidate]]:
    """The queue kept one change at a time through a random history, and built from its end state.

    The book is settled every `settle_every` changes, and each settlement must name every
    candidate whose view changed since the one before: the linker publishes only those."""
    rng = random.Random(seed)
    book = MatchBook(MODEL, grace_days=rng.choice((0, 7)))
    seen: dict[str, LinkCandidate] = {}
    named: set[str] = set()
    for n in range(120):
        episode = random_episode(rng, n)
        if rng.random() < 0.15:
            book.put(episode.key, None)  # withdrawn
        else:
            book.put(episode.key, episode)
        if rng.random() < 0.05:
            named |= book.settle().keys  # an operator picks from the queue as it stands
            if book.views():
                key = rng.choice(sorted(book.views()))
                book.rule(key, Ruling(rng.choice((Decision.REJECTED, Decision.CONFIRMED)), "op", NOW))
        if rng.random() < 0.03:
            book.erase(f"k{rng.randrange(8)}")
        if n % settle_every == 0:
            named |= book.settle().keys
            now = book.views()
            differ = {k for k in seen.keys() | now.keys() if seen.get(k) != now.get(k)}
            assert differ <= named, f"changed but not named: {sorted(differ - named)}"
            seen, named = now, set()
            if settle_every == 1:  # and equal to the queue built from scratch, at every step
                assert now == current(book.episodes.values(), book.rulings, TODAY, book.grace_days, MODEL)
    return book.views(), current(book.episodes.values(), book.rulings, TODAY, book.grace_days, MODEL)


@pytest.mark.parametrize("settle_every", [1, 7])
@pytest.mark.parametrize("seed", range(12))
def test_the_queue_kept_one_episode_at_a_time_equals_the_queue_built_from_scratch(
    seed: int, settle_every: int
) -> None:
    kept, scratch = queues(seed, settle_every)
    assert kept == scratch


def test_the_random_histories_do_propose_candidates() -> None:
    assert sum(len(queues(seed)[1]) for seed in range(12)) > 20
