"""A prison release and a community engagement, published with `ndtms publish`, become a link."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from ndtms_apps.feeds.synthetic import community_episode, prison_release
from ndtms_contract.topics import RAW
from tests.e2e.pipeline import Ndtms, records_of, someone, wait_for, write_jsonl

pytestmark = pytest.mark.broker


def test_release_then_community_engagement_appears_as_a_link(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(1)
    release = date(2024, 3, 1)
    feed = write_jsonl(
        tmp_path / "feed.jsonl",
        [
            prison_release(who, "PRISON01", "SKEL-REL", release),
            community_episode(
                who, "CMTY001", "SKEL-CE", release + timedelta(days=5), release + timedelta(days=7)
            ),
            '{"provider_id": "CMTY001", "episode_id": "SKEL-BAD"',
        ],
    )
    published = ndtms("publish", str(feed), "--json", check=False)
    assert published.returncode == 1
    summary = json.loads(published.stdout)
    assert summary["accepted"] == 2 and summary["rejected"] == 1
    assert (
        summary["rejections"][0]["line"] == 3
        and "invalid JSON" in summary["rejections"][0]["problems"][0]["message"]
    )

    links = wait_for(ndtms, "links", "PRISON01/SKEL-REL", lambda r: r["value"]["status"] == "engaged")
    final = links[-1]["value"]
    assert final["days_to_engagement"] == 7
    assert final["community_episode_id"] == "SKEL-CE" and final["window_end_date"] == "2024-03-22"
    serialized = json.dumps(links)
    assert who.date_of_birth.isoformat() not in serialized and "first_initial" not in serialized


def test_undecodable_record_goes_to_the_dlq_and_the_stream_keeps_going(ndtms: Ndtms, tmp_path: Path) -> None:
    producer = Producer(ndtms.settings.producer_config())
    producer.produce(RAW.name, key=b"CMTY001/SKEL-GARBAGE", value=b"\x00\x00\x00\x00\x63not avro at all")
    producer.flush(10)
    who = someone(2)
    release = date(2024, 5, 1)
    ndtms(
        "publish",
        str(write_jsonl(tmp_path / "after.jsonl", [prison_release(who, "PRISON02", "SKEL-AFTER", release)])),
    )
    dead = wait_for(ndtms, "dlq", "CMTY001/SKEL-GARBAGE", lambda r: True)
    assert "Avro decoding failed" in dead[0]["value"]["headers"]["ndtms.dlq.reason"]
    wait_for(ndtms, "links", "PRISON02/SKEL-AFTER", lambda r: r["value"]["status"] == "not_engaged")


def test_invalid_revision_is_reported_on_the_error_feed_and_not_linked(ndtms: Ndtms, tmp_path: Path) -> None:
    who = someone(3)
    bad = prison_release(who, "PRISON03", "SKEL-INVALID", date(2024, 4, 1))
    bad["custody"]["exit_reason"] = "other"
    ndtms("publish", str(write_jsonl(tmp_path / "bad.jsonl", [bad])))
    reports = wait_for(ndtms, "errors", "PRISON03/SKEL-INVALID", lambda r: True)
    assert {f["rule"] for f in reports[-1]["value"]["findings"]} == {"SEC003"}
    assert not [r for r in records_of(ndtms, "links", idle=2) if r["key"] == "PRISON03/SKEL-INVALID"]


def test_status_reports_every_service_up_with_its_lag(ndtms: Ndtms) -> None:
    status = json.loads(ndtms("status", "--json").stdout)
    assert set(status["services"]) == {"ingest", "validator", "journey", "linker"}
    for name, service in status["services"].items():
        assert service["up"] is True, name
        assert isinstance(service["lag"], int) and service["lag"] >= 0
    assert status["services"]["ingest"]["lag"] == 0
    assert status["topics"]["ndtms.episodes.raw"]["end_offset_total"] > 0


def test_unknown_topic_is_a_clear_error(ndtms: Ndtms) -> None:
    result = ndtms("tail", "nope", "--idle-timeout", "1", check=False)
    assert (
        result.returncode == 2 and "known topics: raw, valid, errors, journeys, links, dlq" in result.stderr
    )
