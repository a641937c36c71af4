"""The validator on the running pipeline: findings, fixes, stale and duplicate revisions, order."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from ndtms.localrun.services import SERVICES, process_of
from ndtms.stream.service import instance_name
from ndtms_apps.feeds.scenarios import continuity_feed
from ndtms_apps.feeds.synthetic import community_episode, prison_release
from ndtms_contract.topics import RAW
from tests.e2e.pipeline import (
    Ndtms,
    assert_each_revision_forwarded_once,
    kill_mid_replay,
    records_of,
    settle,
    someone,
    stop_service,
    wait_for,
    write_jsonl,
)

pytestmark = pytest.mark.broker


def forwarded_revisions(ndtms: Ndtms, provider: str, episode: str) -> list[int]:
    return [
        r["value"]["revision"]
        for r in records_of(ndtms, "valid")
        if r["value"]["provider_id"] == provider and r["value"]["episode_id"] == episode
    ]


def publish(ndtms: Ndtms, path: Path, *records: dict[str, Any]) -> None:
    ndtms("publish", str(write_jsonl(path, list(records))))


def test_error_is_flagged_and_kept_out_then_the_fix_clears_it(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(11)
    good = community_episode(who, "CMTY011", "VAL-FIX", date(2024, 3, 6), date(2024, 3, 8))
    broken = {**good, "revision": 2, "triage_date": "2024-03-01"}  # before the referral
    fixed = {**good, "revision": 3, "triage_date": "2024-03-07"}
    publish(ndtms, tmp_path / "1.jsonl", good)
    publish(ndtms, tmp_path / "2.jsonl", broken)
    reports = wait_for(ndtms, "errors", "CMTY011/VAL-FIX", lambda r: r["value"]["revision"] == 2)
    [finding] = reports[-1]["value"]["findings"]
    assert (finding["rule"], finding["severity"], finding["field"]) == ("DAT002", "error", "triage_date")
    assert forwarded_revisions(ndtms, "CMTY011", "VAL-FIX") == [1]

    publish(ndtms, tmp_path / "3.jsonl", fixed)
    reports = wait_for(ndtms, "errors", "CMTY011/VAL-FIX", lambda r: r["value"]["revision"] == 3)
    assert reports[-1]["value"]["findings"] == []
    dq = json.loads(ndtms("dq", "--provider", "CMTY011", "--json").stdout)
    assert dq == {"providers": []}
    assert forwarded_revisions(ndtms, "CMTY011", "VAL-FIX") == [1, 3]


def test_stale_and_duplicate_revisions_change_nothing(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(12)
    release = date(2024, 6, 1)
    first = prison_release(who, "PRISON12", "VAL-STALE", release)
    second = {**first, "revision": 2}
    publish(ndtms, tmp_path / "a.jsonl", first, community_episode(who, "CMTY012", "VAL-CE", release, release))
    publish(ndtms, tmp_path / "b.jsonl", second)
    wait_for(ndtms, "links", "PRISON12/VAL-STALE", lambda r: r["value"]["status"] == "engaged")
    before = records_of(ndtms, "links")
    publish(ndtms, tmp_path / "c.jsonl", first)  # stale
    publish(ndtms, tmp_path / "d.jsonl", second)  # duplicate of the revision in force
    settle(ndtms)
    revisions = forwarded_revisions(ndtms, "PRISON12", "VAL-STALE")
    assert revisions[:2] == [1, 2] and set(revisions[2:]) <= {2}, revisions  # never back to 1
    after = [r for r in records_of(ndtms, "links") if r["key"] == "PRISON12/VAL-STALE"]
    assert after[-1]["value"]["status"] == "engaged"
    assert {json.dumps({**r["value"], "decided_at": None}) for r in after} == {
        json.dumps({**r["value"], "decided_at": None}) for r in before if r["key"] == "PRISON12/VAL-STALE"
    }


def test_rejected_later_revision_delivered_first_does_not_block_the_earlier_valid_one(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    who = someone(13)
    release = date(2024, 7, 1)
    valid_2 = {**prison_release(who, "PRISON13", "VAL-ORDER", release), "revision": 2}
    invalid_3 = {**valid_2, "revision": 3, "custody": {**valid_2["custody"], "prison_exit_date": None}}
    community = community_episode(
        who, "CMTY013", "VAL-ORDER-CE", release + timedelta(days=2), release + timedelta(days=3)
    )
    publish(ndtms, tmp_path / "first.jsonl", invalid_3)
    publish(ndtms, tmp_path / "then.jsonl", valid_2, community)
    links = wait_for(ndtms, "links", "PRISON13/VAL-ORDER", lambda r: r["value"]["status"] == "engaged")
    assert links[-1]["value"]["days_to_engagement"] == 3
    reports = [r for r in records_of(ndtms, "errors") if r["key"] == "PRISON13/VAL-ORDER"]
    assert [r["value"]["revision"] for r in reports] == [
        3
    ]  # the provider still sees its latest submission's error


def test_open_community_episode_at_a_later_reception_is_warned(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(14)
    open_episode = community_episode(
        who, "CMTY014", "VAL-OPEN", date(2024, 2, 1), date(2024, 2, 3), recorded_on=date(2024, 5, 1)
    )
    custody = prison_release(who, "PRISON14", "VAL-CUSTODY", date(2024, 8, 1))
    custody["custody"]["reception_date"] = custody["referral_date"] = "2024-04-01"
    custody["triage_date"] = "2024-04-02"
    custody["interventions"][0]["start_date"] = "2024-04-03"
    publish(ndtms, tmp_path / "w.jsonl", open_episode, custody)
    reports = wait_for(ndtms, "errors", "CMTY014/VAL-OPEN", lambda r: bool(r["value"]["findings"]))
    value = reports[-1]["value"]
    assert value["checked_by"] == "validator-cross-episode" and value["findings"][0]["rule"] == "CMT003"
    dq = json.loads(ndtms("dq", "--provider", "CMTY014", "--json").stdout)
    [provider] = dq["providers"]
    assert provider["warnings"] == 1 and provider["rules"][0]["episodes"] == ["VAL-OPEN"]
    text = ndtms("dq", "--provider", "CMTY014").stdout
    assert "CMT003" in text and "VAL-OPEN" in text


def test_killed_twice_mid_replay_the_validator_forwards_each_revision_once(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    submissions = continuity_feed(ndtms.today(), people=500, seed=909, label="V")
    feed = [record for submission in submissions for record in submission]
    stop_service(ndtms, "validator")  # down while the feed arrives: its restart is a replay
    for n, submission in enumerate(submissions):
        ndtms("publish", str(write_jsonl(tmp_path / f"v-{n}.jsonl", [r.data for r in submission])))
    lags_at_kill = [kill_mid_replay(ndtms, "validator", "valid") for _ in range(2)]
    ndtms("up")
    settle(ndtms, timeout=180)
    assert_each_revision_forwarded_once(ndtms, feed, f"killed at lags {lags_at_kill}")


def test_a_validator_fenced_by_its_own_instance_id_joins_again_and_forwards_each_revision_once(
    ndtms: Ndtms, tmp_path: Path
) -> None:
    """Static membership: another member with the stage's instance id fences it (as its own
    rejoin did after a broker restart); the stage replaces its consumer instead of stopping."""
    submissions = continuity_feed(ndtms.today(), people=300, seed=919, label="F")
    feed = [record for submission in submissions for record in submission]
    spec = next(s for s in SERVICES if s.name == "validator")
    pid = process_of(spec, ndtms.settings).pid()
    assert pid is not None
    group = spec.group_id or ""
    usurper = Consumer(
        {
            **ndtms.settings.kafka_client_config(),
            "group.id": group,
            "group.instance.id": f"{group}-{instance_name(ndtms.settings, ndtms.settings.validator_port)}",
            "session.timeout.ms": 10_000,
            "enable.auto.commit": False,
        }
    )
    try:
        usurper.subscribe([RAW.name])
        deadline = time.monotonic() + 60
        while not usurper.assignment():
            assert time.monotonic() < deadline, "the usurping member was given no partitions"
            usurper.poll(0.2)
        for n, submission in enumerate(submissions):
            ndtms("publish", str(write_jsonl(tmp_path / f"f-{n}.jsonl", [r.data for r in submission])))
    finally:
        usurper.close()
    settle(ndtms, timeout=180)
    process = process_of(spec, ndtms.settings)
    assert process.pid() == pid, "the fenced validator stopped"
    assert "joining the group again" in process.log_file.read_text(errors="replace"), "it was never fenced"
    assert_each_revision_forwarded_once(ndtms, feed, "fenced once")
