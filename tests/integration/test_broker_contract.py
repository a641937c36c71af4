"""The contract on the real broker and registry: topics as catalogued, Avro framed by the registry."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from ndtms.contract.episodes import EpisodeUpdate
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CATALOGUE, LINKS, RAW
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.localrun.topics import ensure_topics
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
