"""Erasure on the running platform: each way in, everything removed, nothing brought back.

A provider's objection (HTTP), an operator by attributors and an operator by client key; then
a later update for an erased person, a journey rebuild and a linker replay from the first
offset of `ndtms.episodes.valid`; and the same erasure with the stages SIGKILLed right after
it was accepted.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from ndtms.erasing import await_receipts
from ndtms_apps.feeds.synthetic import Person, community_episode, prison_release
from ndtms_contract.pseudonyms import client_key
from services.journey.settings import JourneySettings
from tests.e2e.pipeline import (
    Ndtms,
    current_by_key,
    raw_records,
    records_of,
    replay_linker_from_the_start,
    settle,
    someone,
    stop_service,
    write_jsonl,
)

pytestmark = pytest.mark.broker
PRISON = "PRISON51"
COMMUNITY = "CMTY051"
JOURNEY_TABLES = ("episodes", "people", "journeys", "journey_providers", "outbox")


@dataclass(frozen=True)
class Someone:
    who: Person
    key: str
    episodes: tuple[str, ...]  # provider/episode
    transfers: tuple[str, ...]

    @property
    def attributors(self) -> str:
        w = self.who
        return f"{w.first_initial}|{w.second_initial}|{w.date_of_birth.isoformat()}|{w.sex}"


def publish_people(ndtms: Ndtms, tmp_path: Path, label: str, count: int) -> list[Someone]:
    """People released ten days ago and engaged four days later; every other one also released
    again five days ago (pending), and one revision with an error each (a finding to clear)."""
    today = ndtms.today()
    records: list[dict[str, Any]] = []
    people = []
    for n in range(count):
        who = someone(zlib.crc32(f"{label}{n}".encode()))
        release = today - timedelta(days=10)
        prison = prison_release(who, PRISON, f"{label}{n}P", release)
        community = community_episode(
            who, COMMUNITY, f"{label}{n}C", release + timedelta(days=2), release + timedelta(days=4)
        )
        bad = community | {"revision": 2, "triage_date": "2000-01-01"}  # DAT002: an open finding
        records += [prison, community, bad]
        episodes = [f"{PRISON}/{label}{n}P", f"{COMMUNITY}/{label}{n}C"]
        if n % 2 == 0:
            records.append(prison_release(who, PRISON, f"{label}{n}Q", today - timedelta(days=5)))
            episodes.append(f"{PRISON}/{label}{n}Q")
        key = client_key(
            ndtms.settings.pseudonym_secret(),
            who.first_initial,
            who.second_initial,
            who.date_of_birth,
            who.sex,
        )
        people.append(Someone(who, key, tuple(episodes), tuple(e for e in episodes if e.startswith(PRISON))))
    assert len({p.key for p in people}) == count, "two made-up people share attributors: pick other seeds"
    ndtms("publish", str(write_jsonl(tmp_path / f"{label}.jsonl", records)))
    settle(ndtms)
    return people


def vendor_key(ndtms: Ndtms, name: str) -> dict[str, str]:
    issued = json.loads(
        ndtms("credentials", "issue", "--name", name, "--provider", COMMUNITY, "--json").stdout
    )
    return {"Authorization": f"Bearer {issued['key']}"}


def object_for(ndtms: Ndtms, person: Someone, auth: dict[str, str]) -> int:
    w = person.who
    body = {
        "provider_id": COMMUNITY,
        "client": {
            "first_initial": w.first_initial,
            "second_initial": w.second_initial,
            "date_of_birth": w.date_of_birth.isoformat(),
            "sex": w.sex,
            "local_authority": w.local_authority,
            "consent": False,
        },
        "recorded_at": ndtms.now().isoformat(),
    }
    answer = httpx.post(
        f"http://127.0.0.1:{ndtms.settings.ingest_port}/v1/objections", json=body, headers=auth
    )
    assert answer.status_code == 202, answer.text
    assert w.date_of_birth.isoformat() not in answer.text
    offset: int = answer.json()["ledger_offset"]
    return offset


def operator(ndtms: Ndtms) -> dict[str, str]:
    return {"Authorization": f"Bearer {(ndtms.settings.state_dir / 'operator.key').read_text().strip()}"}


def journey_store_rows(ndtms: Ndtms, key: str) -> dict[str, int]:
    engine = create_engine(JourneySettings(**ndtms.settings.model_dump()).effective_database_url)
    try:
        with engine.connect() as connection:
            counts = {
                table: connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE client_key = :k"), {"k": key}
                ).scalar_one()
                for table in (*JOURNEY_TABLES, "erasures")
            }
    finally:
        engine.dispose()
    return counts


def assert_erased(ndtms: Ndtms, person: Someone) -> None:
    """Nothing of the person on any downstream topic, in the journey store or in the stages' state."""
    assert person.key not in current_by_key(records_of(ndtms, "journeys"))
    links = current_by_key(records_of(ndtms, "links"))
    assert not set(person.transfers) & set(links)
    assert not any(link["client_key"] == person.key for link in links.values())
    reports = current_by_key(records_of(ndtms, "errors"))
    # Only the refusal of an update sent after the erasure, if one was sent, is left.
    left = {e: [f["rule"] for f in reports[e]["findings"]] for e in person.episodes if e in reports}
    assert all(rules == ["ERA001"] for rules in left.values()), left
    journeys = f"http://127.0.0.1:{ndtms.settings.journey_port}/v1"
    assert httpx.get(f"{journeys}/clients/{person.key}/journeys", headers=operator(ndtms)).status_code == 404
    provider, episode = person.episodes[1].split("/")
    by_episode = httpx.get(
        f"{journeys}/providers/{provider}/episodes/{episode}/journeys", headers=operator(ndtms)
    )
    assert by_episode.status_code == 404
    deadline = time.monotonic() + 10
    # The outbox may hold the tombstone and the receipt a moment after they went out.
    while (rows := journey_store_rows(ndtms, person.key))["outbox"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert rows == {**dict.fromkeys(JOURNEY_TABLES, 0), "erasures": 1}
    # The stages' state, as their changelogs say it now: tombstoned.
    assert not set(person.episodes) & live_keys(ndtms, "ndtms-validator-heads-state")
    for store in ("ndtms-linker-people-state", "ndtms-linker-episode-dates-state"):
        assert person.key not in live_keys(ndtms, store)


def live_keys(ndtms: Ndtms, changelog: str) -> set[str]:
    """The keys a state changelog holds a value for (its last record is not a tombstone)."""
    live = {key.decode(): value is not None for key, value in raw_records(ndtms, changelog)}
    return {key for key, alive in live.items() if alive}


def outcomes(ndtms: Ndtms, people: list[Someone]) -> dict[str, Any]:
    ours = {t for p in people for t in p.transfers}
    links = current_by_key(records_of(ndtms, "links"))
    return {t: {k: v for k, v in link.items() if k != "decided_at"} for t, link in links.items() if t in ours}


def test_an_erasure_each_way_removes_the_person_everywhere_for_good(ndtms: Ndtms, tmp_path: Path) -> None:
    people = publish_people(ndtms, tmp_path, "ERA", 6)
    erased, kept = people[:3], people[3:]
    before = outcomes(ndtms, kept)
    assert set(before) == {t for p in kept for t in p.transfers}
    assert set(outcomes(ndtms, erased)) == {t for p in erased for t in p.transfers}

    # A provider's objection: accepted at once, then confirmed by every service.
    audit_from = 0
    offset = object_for(ndtms, erased[0], vendor_key(ndtms, "Erasure vendor"))
    tally = await_receipts(ndtms.settings, erased[0].key, offset, audit_from, timeout=60)
    assert tally.complete, f"not confirmed by {tally.waiting_for()}"
    # An operator by attributors, and by client key: the command waits and says what went.
    ndtms.env["NDTMS_OPERATOR"] = "dpo-erasure"
    try:
        by_attributors = ndtms("erase", "--attributors", erased[1].attributors)
        by_key = json.loads(ndtms("erase", "--client-key", erased[2].key, "--json").stdout)
    finally:
        ndtms.env.pop("NDTMS_OPERATOR")
    assert "Confirmed by every service: the person is erased." in by_attributors.stdout
    assert erased[1].who.date_of_birth.isoformat() not in by_attributors.stdout + by_attributors.stderr
    assert by_key["complete"] and by_key["waiting_for"] == []
    assert by_key["totals"]["tombstones on ndtms.links"] == len(erased[2].transfers)
    assert by_key["totals"]["withdrawals on ndtms.episodes.valid"] == len(erased[2].episodes)
    assert by_key["removed"]["journey"]["tombstones on ndtms.journeys"] == 1

    for person in erased:
        assert_erased(ndtms, person)
    assert outcomes(ndtms, kept) == before
    trail = json.loads(ndtms("audit", "--json").stdout)["events"]
    requested = {e["subject"]: e for e in trail if e["action"] == "erasure_requested"}
    assert requested[erased[0].key]["actor"].startswith("Erasure vendor (")
    assert requested[erased[1].key]["actor"].startswith("dpo-erasure with ")
    assert "erasure_applied" in {e["action"] for e in trail if e["subject"] == erased[2].key}
    assert erased[1].who.date_of_birth.isoformat() not in json.dumps(trail)

    # A later update for an erased person is refused with a finding; nothing of it flows on.
    valid_before = [r for r in records_of(ndtms, "valid") if r["key"] == erased[1].key]
    episode = erased[1].episodes[1].split("/")[1]
    resent = community_episode(
        erased[1].who, COMMUNITY, episode, ndtms.today() - timedelta(days=8), None, revision=7
    )
    ndtms("publish", str(write_jsonl(tmp_path / "resent.jsonl", [resent])))
    settle(ndtms)
    report = current_by_key(records_of(ndtms, "errors"))[erased[1].episodes[1]]
    assert [f["rule"] for f in report["findings"]] == ["ERA001"] and report["revision"] == 7
    assert erased[1].who.date_of_birth.isoformat() not in json.dumps(report)
    assert [r for r in records_of(ndtms, "valid") if r["key"] == erased[1].key] == valid_before

    # A journey rebuild in place, and a linker replay of the whole valid topic with its local
    # state deleted, bring none of them back.
    ndtms("journeys", "rebuild")
    replay_linker_from_the_start(ndtms)
    settle(ndtms)
    for person in erased:
        assert_erased(ndtms, person)
    assert outcomes(ndtms, kept) == before


def test_an_erasure_accepted_just_before_the_stages_are_killed_is_complete_after_restart(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    people = publish_people(ndtms, tmp_path, "ERK", 4)
    erased, kept = people[0], people[1:]
    before = outcomes(ndtms, kept)
    offset = object_for(ndtms, erased, vendor_key(ndtms, "Erasure vendor K"))
    for service in ("validator", "linker", "journey"):
        stop_service(ndtms, service)
    ndtms("up")
    tally = await_receipts(ndtms.settings, erased.key, offset, 0, timeout=90)
    assert tally.complete, f"not confirmed by {tally.waiting_for()}"
    settle(ndtms)
    assert_erased(ndtms, erased)
    assert outcomes(ndtms, kept) == before
