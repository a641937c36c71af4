"""The contract on the real broker and registry: topics as catalogued, Avro framed by the registry."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from ndtms.localrun.topics import ensure_topics, prepare_topics, topic_config
from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CATALOGUE, DLQ, INTERNAL, LINKS, RAW, VALID
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from tests.builders import secure, update

pytestmark = pytest.mark.broker


def test_topics_exist_with_their_partitions_and_configs(platform: PlatformSettings) -> None:
    assert ensure_topics(platform.kafka_client_config()) == []  # idempotent
    admin = AdminClient(platform.kafka_client_config())
    metadata = admin.list_topics(timeout=10)
    for spec in CATALOGUE:
        assert len(metadata.topics[spec.name].partitions) == spec.partitions
    [future] = admin.describe_configs([ConfigResource("topic", LINKS.name)]).values()
    assert future.result()["cleanup.policy"].value == "compact"
    # One broker: one copy of each topic and one in-sync replica required (the settings' default
    # for a cluster of fewer than three brokers; ndtms_contract.topic_layout).
    for spec in (*CATALOGUE, *INTERNAL):
        assert {len(p.replicas) for p in metadata.topics[spec.name].partitions.values()} == {1}
        assert topic_config(admin, spec.name)["min.insync.replicas"] == "1"
    report = prepare_topics(platform.kafka_client_config())
    assert (report.created, report.differences, report.brokers) == ([], [], 1)


def test_attributor_topics_keep_records_only_as_long_as_the_setting_says(platform: PlatformSettings) -> None:
    config = platform.kafka_client_config()
    admin = AdminClient(config)
    try:
        assert ensure_topics(config, raw_retention_days=3) == []  # an existing cluster, as `ndtms init`
        for name in (RAW.name, DLQ.name):
            assert topic_config(admin, name)["retention.ms"] == str(3 * 24 * 3600 * 1000)
        assert topic_config(admin, VALID.name)["retention.ms"] == "-1"  # no attributors there
    finally:
        ensure_topics(config, raw_retention_days=platform.raw_retention_days)
    assert topic_config(admin, RAW.name)["retention.ms"] == str(
        platform.raw_retention_days * 24 * 3600 * 1000
    )


def test_avro_roundtrip_through_the_registry(platform: PlatformSettings) -> None:
    codec = AvroTranscoder(registry_client(platform.registry_url), RAW, EpisodeUpdate)
    record = update(secure())
    payload = codec.encode(record)
    assert payload[0] == 0 and int.from_bytes(payload[1:5], "big") == codec.register()
    assert codec.decode(payload) == record


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"{json}", "wire format"),
        (b"\x00\x00\x00\x00\x01\x02", "Avro decoding failed"),
        (b"\x00\x7f\xff\xff\xff\x00", "Avro decoding failed"),
    ],
)
def test_undecodable_bytes_say_why(platform: PlatformSettings, payload: bytes, reason: str) -> None:
    codec = AvroTranscoder(registry_client(platform.registry_url), RAW, EpisodeUpdate)
    with pytest.raises(UndecodableRecord, match=reason):
        codec.decode(payload)
