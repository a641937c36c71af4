"""What an erasure removes, stage by stage, and how a later update for an erased person is refused."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ndtms.rules.cross_episode import PersonEpisodes, apply_accepted
from ndtms.stream.erasures import LedgerEntry
from ndtms.stream.state import Store, StoreSpec
from ndtms_apps.cli.command import CommandFailed
from ndtms_apps.cli.erasures import parse_attributors
from ndtms_contract.erasures import CONFIRMING, ErasureOrigin, ErasureReceipt, ErasureRecorded, ErasureTally
from ndtms_contract.findings import Severity
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.topics import CONFIRMED, DECISIONS, MATCHING, RAW, VALID
from services.linker.erasure import erase_person
from services.linker.people import Person, Policy, apply
from services.validator.acceptance import ERASED_RULE, EpisodeHead, Verdict, decide
from services.validator.erasure import erase_heads
from tests.builders import ALEX, NOW, SECRET, accepted, community, secure, update

ALEX_KEY = client_key(SECRET, ALEX.first_initial, ALEX.second_initial, ALEX.date_of_birth, ALEX.sex)
OTHER = "0" * 32


# --- the validator refuses an erased person's updates ---------------------------------------
@pytest.mark.parametrize(
    ("data", "erased", "verdict"),
    [
        (community(), {ALEX_KEY}, Verdict.ERASED),
        (community(), {OTHER}, Verdict.ACCEPTED),
        (community(), set(), Verdict.ACCEPTED),
        # An update with errors for an erased person is refused as erased: its errors are not
        # checked (nothing of it is kept).
        (community(triage_date="2024-01-01"), {ALEX_KEY}, Verdict.ERASED),
        # A withdrawal names nobody: it is applied to whatever the validator still holds.
        (
            {"provider_id": "CMTY001", "episode_id": "CE1", "revision": 2, "deleted": True},
            {ALEX_KEY},
            Verdict.ACCEPTED,
        ),
    ],
)
def test_an_erased_persons_update_is_refused(
    data: dict[str, Any], erased: set[str], verdict: Verdict
) -> None:
    decision = decide(None, update(data), SECRET, NOW, erased)
    assert decision.verdict is verdict
    if verdict is Verdict.ERASED:
        assert decision.forward == ()
        assert decision.head == EpisodeHead()  # nothing kept
        assert decision.report is not None
        [finding] = decision.report.findings
        assert (finding.rule, finding.severity, finding.field) == (ERASED_RULE, Severity.ERROR, "client")
        assert "objected" in finding.message
        for attributor in ("1985", "A", "B"):  # the message names no attributor
            assert f" {attributor} " not in f" {finding.message} "


def test_the_head_remembers_whose_revision_was_checked_last() -> None:
    rejected = decide(None, update(community(triage_date="2024-01-01")), SECRET, NOW)
    assert rejected.verdict is Verdict.REJECTED and rejected.head.checked_client_key == ALEX_KEY
    accepted_ = decide(None, update(community()), SECRET, NOW)
    assert accepted_.head.checked_client_key == ALEX_KEY == accepted_.head.accepted_client_key


# --- what the validator removes ---------------------------------------------------------------
def head(**fields: Any) -> EpisodeHead:
    return EpisodeHead(**fields)


LIVE = head(
    accepted_revision=3, accepted_client_key=ALEX_KEY, checked_client_key=ALEX_KEY, reported_revision=2
)
WITHDRAWN = head(accepted_revision=4, accepted_client_key=ALEX_KEY, accepted_deleted=True)
REJECTED_ONLY = head(reported_revision=1, reported_findings=True, checked_client_key=ALEX_KEY)
MOVED_AWAY = head(
    accepted_revision=2, accepted_client_key=OTHER, checked_client_key=ALEX_KEY, reported_revision=3
)
MOVED_HERE = head(accepted_revision=2, accepted_client_key=ALEX_KEY, checked_client_key=OTHER)
SOMEONE_ELSE = head(
    accepted_revision=1, accepted_client_key=OTHER, checked_client_key=OTHER, reported_revision=1
)


@pytest.mark.parametrize(
    ("held", "gone", "withdrawn", "cleared"),
    [
        (LIVE, True, 4, True),  # withdrawn downstream at the next revision, report cleared
        (WITHDRAWN, True, None, False),  # already withdrawn: nothing to withdraw again
        (REJECTED_ONLY, True, None, True),  # never accepted: its findings were theirs
        (MOVED_AWAY, False, None, True),  # filed under someone else: only the last check was theirs
        (MOVED_HERE, True, 3, False),  # filed under them, even if a later rejected check named another
        (SOMEONE_ELSE, False, None, False),
    ],
)
def test_what_erasing_removes_from_the_validators_heads(
    held: EpisodeHead, gone: bool, withdrawn: int | None, cleared: bool
) -> None:
    erased = erase_heads(ALEX_KEY, [("CMTY001/CE1", held)], NOW)
    assert erased.heads == (("CMTY001/CE1",) if gone else ())
    assert [w.revision for w in erased.withdrawals] == ([withdrawn] if withdrawn else [])
    for withdrawal in erased.withdrawals:
        assert withdrawal.deleted and withdrawal.client_key == ALEX_KEY
        assert (withdrawal.provider_id, withdrawal.episode_id, withdrawal.accepted_at) == (
            "CMTY001",
            "CE1",
            NOW,
        )
    assert erased.reports_cleared == (("CMTY001/CE1",) if cleared else ())


# --- what the linker removes ------------------------------------------------------------------
def test_erasing_a_person_the_linker_never_saw_removes_nothing() -> None:
    erased = erase_person(None, None)
    assert (erased.links_tombstoned, erased.reports_cleared, erased.held, erased.removed) == (
        (),
        (),
        False,
        0,
    )


def test_erasing_tombstones_every_transfer_and_clears_every_episodes_reports() -> None:
    key = "k" * 32
    person, _ = apply(Person(key), accepted(secure(), key), date(2024, 3, 10), Policy())
    person, _ = apply(person, accepted(community(), key), date(2024, 3, 10), Policy())
    dates, _ = apply_accepted(PersonEpisodes(), accepted(community(), key), NOW)
    erased = erase_person(person, dates)
    assert erased.links_tombstoned == ("PRISON01/EP1",)
    assert erased.reports_cleared == ("CMTY001/CE1", "PRISON01/EP1")
    assert erased.held and erased.removed == 3


# --- confirmations -------------------------------------------------------------------------
def receipt(
    service: str, partitions: tuple[int, ...], offset: int = 7, topic: str = VALID.name, **removed: int
) -> ErasureReceipt:
    return ErasureReceipt(
        service=service, input_topic=topic, partitions=partitions, removed=removed, ledger_offset=offset
    )


def test_an_erasure_is_confirmed_when_every_service_covered_every_partition() -> None:
    tally = ErasureTally(ledger_offset=7)
    assert tally.waiting_for() == ["validator", "linker", "journey"]
    tally.add(receipt("validator", (0, 1, 2), topic=RAW.name, heads=2))
    tally.add(receipt("validator", (3, 4, 5), 6, topic=RAW.name, heads=9))  # another erasure's: not ours
    tally.add(receipt("linker", (0, 1, 2, 3, 4, 5), links=1))
    tally.add(receipt("journey", (0, 1, 2, 3, 4, 5), rows=5))
    assert tally.waiting_for() == ["validator", "linker"] and not tally.complete
    tally.add(receipt("linker", (0,), topic=MATCHING.name))  # the probable-match search, too
    tally.add(receipt("linker", (0,), topic=DECISIONS.name))
    tally.add(receipt("linker", (0, 1, 2, 3, 4, 5), topic=CONFIRMED.name))
    assert tally.waiting_for() == ["validator"]
    tally.add(receipt("validator", (3, 4, 5), topic=RAW.name, heads=1))
    assert tally.complete
    assert tally.removed["validator"] == {"heads": 3}
    assert tally.totals() == {"heads": 3, "links": 1, "rows": 5}


@pytest.mark.parametrize(
    ("age", "removed", "worth"),
    [(timedelta(minutes=5), 0, True), (timedelta(hours=2), 0, False), (timedelta(hours=2), 1, True)],
)
def test_a_receipt_saying_nothing_was_removed_is_written_only_while_someone_may_wait(
    age: timedelta, removed: int, worth: bool
) -> None:
    erasure = ErasureRecorded(
        client_key=OTHER, erased_at=NOW - age, erased_by="op", origin=ErasureOrigin.OPERATOR
    )
    assert LedgerEntry(0, erasure).worth_a_receipt(removed, NOW) is worth


# --- finding a person's entries in a store ------------------------------------------------
def test_a_store_finds_the_entries_that_name_a_client_key_pending_ones_included(tmp_path: Path) -> None:
    store: Store[EpisodeHead] = Store(StoreSpec("heads", "t", "t-state", EpisodeHead), tmp_path)
    store.open(0, lambda start: iter(()))
    store.put(0, "P/1", head(accepted_revision=1, accepted_client_key=ALEX_KEY))
    store.put(0, "P/2", head(accepted_revision=1, accepted_client_key=OTHER))
    store.committed({0: 2})
    store.put(0, "P/3", head(checked_client_key=ALEX_KEY))  # pending
    store.put(0, "P/1", None)  # deleted, pending
    assert sorted(key for key, _ in store.containing(0, ALEX_KEY.encode())) == ["P/3"]
    store.close_all()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("A|B|1985-03-02|male", None),
        (" a | b |1985-03-02| Female ", None),
        ("A|B|1985-03-02", "four parts"),
        ("A||1985-03-02|male", "each initial"),
        ("A|B|02/03/1985|male", "not a date"),
        ("A|B|1985-02-30|male", "not a date"),
        ("A|B|1985-03-02|m", "the sex"),
    ],
)
def test_attributors_on_the_command_line(text: str, problem: str | None) -> None:
    if problem is None:
        first, second, born, sex = parse_attributors(text)
        assert (first.upper(), second.upper()) == ("A", "B")
        assert born == date(1985, 3, 2) and sex.value in ("male", "female")
        return
    with pytest.raises(CommandFailed) as raised:
        parse_attributors(text)
    assert problem in str(raised.value)
    assert "1985" not in str(raised.value) and "02/03" not in str(raised.value)  # never repeated


def test_an_input_with_more_partitions_than_the_catalogue_needs_every_one_covered() -> None:
    twelve = {topic: 12 for _, topic in CONFIRMING}
    tally = ErasureTally(ledger_offset=3, partitions=twelve)
    for service, topic in CONFIRMING:
        tally.add(
            ErasureReceipt(
                service=service, input_topic=topic, partitions=tuple(range(6)), removed={}, ledger_offset=3
            )
        )
    assert not tally.complete  # six of twelve: before, six was all the catalogue asked for
    for service, topic in CONFIRMING:
        tally.add(
            ErasureReceipt(
                service=service,
                input_topic=topic,
                partitions=tuple(range(6, 12)),
                removed={},
                ledger_offset=3,
            )
        )
    assert tally.complete
