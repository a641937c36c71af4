"""Which revision is in force: stale, duplicate, rejected and accepted revisions in any order."""

from __future__ import annotations

from itertools import permutations
from typing import Any

import pytest

from ndtms_contract.episodes import AcceptedEpisode
from services.validator.acceptance import Decision, EpisodeHead, Verdict, decide
from tests.builders import NOW, SECRET, community, update


def run(revisions: list[dict[str, Any]]) -> tuple[EpisodeHead | None, list[Decision]]:
    head: EpisodeHead | None = None
    decisions = []
    for data in revisions:
        decision = decide(head, update(data), SECRET, NOW)
        head = decision.head
        decisions.append(decision)
    return head, decisions


def forwarded(decisions: list[Decision]) -> list[AcceptedEpisode]:
    return [a for d in decisions for a in d.forward]


VALID_1 = community(revision=1)
VALID_2 = community(revision=2, triage_date="2024-03-07")
INVALID_3 = community(revision=3, triage_date="2024-03-01")  # before referral: an error
WITHDRAWN_4 = {"provider_id": "CMTY001", "episode_id": "CE1", "revision": 4, "deleted": True}


def test_valid_revision_is_accepted_and_forwarded_under_the_client_key() -> None:
    head, [decision] = run([VALID_1])
    assert decision.verdict is Verdict.ACCEPTED
    [out] = decision.forward
    assert out.revision == 1 and len(out.client_key) == 32
    assert decision.report is None
    assert head is not None and head.accepted_revision == 1


def test_error_is_reported_and_not_forwarded_and_the_earlier_revision_stays() -> None:
    head, decisions = run([VALID_1, INVALID_3])
    assert decisions[1].verdict is Verdict.REJECTED and decisions[1].forward == ()
    assert decisions[1].report is not None and decisions[1].report.has_errors
    assert head is not None and head.accepted_revision == 1


def test_fix_clears_the_finding_with_an_empty_report() -> None:
    fixed = community(revision=4, triage_date="2024-03-06")
    _, decisions = run([VALID_1, INVALID_3, fixed])
    assert decisions[2].verdict is Verdict.ACCEPTED
    assert decisions[2].report is not None and decisions[2].report.findings == ()


def test_stale_revision_changes_nothing() -> None:
    head, decisions = run([VALID_2, VALID_1])
    assert (
        decisions[1].verdict is Verdict.STALE and decisions[1].forward == () and decisions[1].report is None
    )
    assert head is not None and head.accepted_revision == 2


def test_a_resent_revision_is_a_duplicate_forwarded_once_only() -> None:
    head, decisions = run([VALID_1, VALID_1])
    assert decisions[0].forward != ()
    assert decisions[1].verdict is Verdict.DUPLICATE
    assert decisions[1].forward == () and decisions[1].report is None
    assert head == decisions[0].head


def test_withdrawing_twice_forwards_one_withdrawal() -> None:
    second = WITHDRAWN_4 | {"revision": 5}
    _, decisions = run([VALID_1, WITHDRAWN_4, second])
    assert [a.deleted for a in decisions[1].forward] == [True]
    assert decisions[2].verdict is Verdict.ACCEPTED and decisions[2].forward == ()


def test_withdrawal_is_forwarded_to_the_person_it_was_filed_under() -> None:
    _, decisions = run([VALID_1, WITHDRAWN_4])
    [withdrawal] = decisions[1].forward
    assert withdrawal.deleted and withdrawal.client_key == decisions[0].forward[0].client_key


def test_changed_attributors_move_the_episode_to_the_new_person() -> None:
    moved = community(revision=2, client={"first_initial": "R"})
    _, decisions = run([VALID_1, moved])
    old, new = decisions[1].forward
    assert old.deleted and old.client_key == decisions[0].forward[0].client_key
    assert not new.deleted and new.client_key != old.client_key
    assert decisions[1].report is not None and {f.rule for f in decisions[1].report.findings} == {"CON002"}


def test_rejected_later_revision_does_not_shadow_an_earlier_valid_one() -> None:
    head, decisions = run([INVALID_3, VALID_2])
    assert [d.verdict for d in decisions] == [Verdict.REJECTED, Verdict.ACCEPTED]
    assert head is not None and head.accepted_revision == 2


def test_report_for_an_older_revision_does_not_replace_the_newest_report() -> None:
    _, decisions = run([INVALID_3, VALID_2])
    assert decisions[1].report is None  # the provider's latest submission (3) is still in error


SETS = {
    "valid-invalid-duplicate": [VALID_1, VALID_2, INVALID_3, VALID_2],
    "withdrawal": [VALID_1, WITHDRAWN_4, INVALID_3, VALID_2],
    "only-invalid-above": [VALID_1, INVALID_3, INVALID_3],
}


@pytest.mark.parametrize("name", list(SETS))
def test_accepted_state_does_not_depend_on_arrival_order(name: str) -> None:
    revisions = SETS[name]
    results = set()
    downstream = set()
    for order in permutations(revisions):
        head, decisions = run(list(order))
        assert head is not None
        results.add((head.accepted_revision, head.accepted_deleted))
        # Downstream applies forwarded revisions idempotently in increasing order: the
        # revision in force per (person, episode) is the highest forwarded one.
        latest: dict[tuple[str, str], AcceptedEpisode] = {}
        for out in forwarded(decisions):
            key = (out.client_key, out.episode_key)
            if key not in latest or out.revision > latest[key].revision:
                latest[key] = out
        # A withdrawn episode and one never forwarded look the same downstream: absent.
        downstream.add(tuple(sorted((k, v.revision) for k, v in latest.items() if not v.deleted)))
    assert len(results) == 1, results
    assert len(downstream) == 1, downstream


def test_forwarded_revisions_increase_per_episode_in_every_order() -> None:
    for order in permutations([VALID_1, VALID_2, INVALID_3, WITHDRAWN_4]):
        _, decisions = run(list(order))
        seen = [out.revision for out in forwarded(decisions) if out.client_key]
        deduplicated = [r for i, r in enumerate(seen) if i == 0 or r != seen[i - 1]]
        assert deduplicated == sorted(set(deduplicated))
