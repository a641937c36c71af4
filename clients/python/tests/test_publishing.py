"""The client as a vendor uses it, against a real ingest service and broker."""

from __future__ import annotations

import sys
import time
import uuid
from importlib.metadata import version
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from conftest import Platform

from ndtms_client import EpisodePublisher, EpisodeUpdate, NotAllowed, PublishRejected, __version__
from ndtms_contract.topics import RAW
from ndtms_contract.transcoding import AvroTranscoder, registry_client


def snapshot(episode_id: str, **changes: Any) -> EpisodeUpdate:
    data: dict[str, Any] = {
        "provider_id": "CMTY001",
        "episode_id": episode_id,
        "revision": 1,
        "setting": "community",
        "recorded_at": "2024-04-01T12:00:00Z",
        "client": {
            "first_initial": "A",
            "second_initial": "B",
            "date_of_birth": "1985-03-02",
            "sex": "male",
            "local_authority": "E09000033",
            "consent": True,
        },
        "referral_date": "2024-03-05",
        "triage_date": "2024-03-06",
        "interventions": [],
    }
    return EpisodeUpdate.model_validate(data | changes)


def fresh_id() -> str:
    return f"CL{uuid.uuid4().hex[:16]}"


def arrived(platform: Platform, since: dict[int, int], episode_ids: set[str]) -> dict[str, int]:
    """How many times each of these episodes reached the raw topic after `since`."""
    codec = AvroTranscoder(registry_client(platform.settings.registry_url), RAW, EpisodeUpdate)
    consumer = Consumer(
        {**platform.settings.kafka_client_config(), "group.id": f"client-test-{uuid.uuid4()}"}
    )
    consumer.assign([TopicPartition(RAW.name, p, offset) for p, offset in since.items()])
    seen = dict.fromkeys(episode_ids, 0)
    deadline = time.monotonic() + 30
    quiet_since = None
    while time.monotonic() < deadline:
        messages = consumer.consume(500, timeout=0.5)
        for message in messages:
            if message.error() is None and (update := codec.decode(message.value())).episode_id in seen:
                seen[update.episode_id] += 1
        if all(seen.values()):
            # Present: read on briefly so that a second copy would be seen too.
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 2:
                break
    consumer.close()
    return seen


def raw_ends(platform: Platform) -> dict[int, int]:
    consumer = Consumer({**platform.settings.kafka_client_config(), "group.id": "client-test-ends"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(RAW.name, p), timeout=10)[1]
            for p in range(RAW.partitions)
        }
    finally:
        consumer.close()


def test_the_client_stands_without_the_platform() -> None:
    # What a vendor installs: the contract and the publishers, none of the server side.
    loaded = {name.split(".")[0] for name in sys.modules}
    assert not loaded & {"fastapi", "sqlalchemy", "uvicorn", "ndtms", "services", "rocksdict"}
    # The distribution is versioned with the contract it ships.
    assert version("ndtms-client") == __version__


def test_updates_published_over_http_arrive_once(platform: Platform) -> None:
    since = raw_ends(platform)
    first, second = snapshot(fresh_id()), snapshot(fresh_id())
    with EpisodePublisher.over_http(platform.ingest_url, platform.api_key) as publisher:
        receipts = publisher.publish([first, second])
    assert [(r.episode_id, r.revision) for r in receipts] == [(first.episode_id, 1), (second.episode_id, 1)]
    assert arrived(platform, since, {first.episode_id, second.episode_id}) == {
        first.episode_id: 1,
        second.episode_id: 1,
    }


def test_a_rejected_record_is_named_and_the_rest_are_accepted(platform: Platform) -> None:
    good = snapshot(fresh_id())
    with (
        EpisodePublisher.over_http(platform.ingest_url, platform.api_key) as publisher,
        pytest.raises(PublishRejected) as raised,
    ):
        publisher.publish([good, good])  # the same revision twice in one batch
    assert [r.index for r in raised.value.rejections] == [1]
    assert [r.episode_id for r in raised.value.accepted] == [good.episode_id]


def test_a_key_the_service_does_not_know_is_not_retried(platform: Platform) -> None:
    slept: list[float] = []
    with (
        EpisodePublisher.over_http(platform.ingest_url, "not-a-key", sleep=slept.append) as publisher,
        pytest.raises(NotAllowed),
    ):
        publisher.publish(snapshot(fresh_id()))
    assert slept == []


def test_updates_published_straight_to_kafka_arrive_once(platform: Platform) -> None:
    since = raw_ends(platform)
    update = snapshot(fresh_id())
    with EpisodePublisher.to_kafka(platform.settings) as publisher:
        [receipt] = publisher.publish(update)
    assert receipt.episode_id == update.episode_id
    assert arrived(platform, since, {update.episode_id}) == {update.episode_id: 1}
