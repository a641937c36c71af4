"""What downstream teams are told (docs/asyncapi.yaml) matches the topics, and the example consumer works."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from examples.consume_links import consume
from ndtms_contract.links import LinkStatus, TransferLink
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CATALOGUE, LINKS
from ndtms_contract.transcoding import SCHEMAS_DIR, AvroTranscoder, registry_client

ROOT = Path(__file__).resolve().parents[2]


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    return loaded


def test_asyncapi_describes_every_public_topic_with_its_schema_and_compaction() -> None:
    doc = document()
    assert doc["asyncapi"] == "3.0.0"
    channels = {channel["address"]: channel for channel in doc["channels"].values()}
    assert set(channels) == {spec.name for spec in CATALOGUE}
    messages = doc["components"]["messages"]
    for spec in CATALOGUE:
        channel = channels[spec.name]
        [reference] = [m["$ref"] for m in channel["messages"].values()]
        message = messages[reference.rsplit("/", 1)[1]]
        schema_ref = message["payload"].get("schema", {}).get("$ref")
        if spec.value_schema is None:
            assert schema_ref is None
        else:
            assert schema_ref == f"../clients/python/src/ndtms_contract/schemas/{spec.value_schema}"
            assert (SCHEMAS_DIR / spec.value_schema).exists()
        assert ("Compacted" in channel["description"]) is spec.compacted, spec.name
    operations = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values()}
    assert operations == set(doc["channels"])


def link(transfer_id: str, status: LinkStatus) -> TransferLink:
    provider, episode = transfer_id.split("/")
    return TransferLink(
        transfer_id=transfer_id,
        client_key="c" * 32,
        prison_provider_id=provider,
        prison_episode_id=episode,
        prison_exit_date=date(2024, 3, 1),
        exit_destination_la="E09000033",
        window_end_date=date(2024, 3, 22),
        status=status,
        decided_at=datetime(2024, 3, 5, tzinfo=UTC),
    )


@pytest.mark.broker
def test_the_example_consumer_reads_current_outcomes_and_honours_tombstones(
    platform: PlatformSettings,
) -> None:
    codec = AvroTranscoder(registry_client(platform.registry_url), LINKS, TransferLink)
    stamp = time.time_ns()
    kept, dropped = f"PRISONX/K{stamp}", f"PRISONX/D{stamp}"
    producer = Producer(platform.producer_config())
    for transfer_id, value in (
        (kept, codec.encode(link(kept, LinkStatus.PENDING))),
        (dropped, codec.encode(link(dropped, LinkStatus.PENDING))),
        (kept, codec.encode(link(kept, LinkStatus.ENGAGED))),
        (dropped, None),
    ):
        producer.produce(LINKS.name, key=transfer_id.encode(), value=value)
    producer.flush(10)
    current = consume(platform.bootstrap_servers, platform.registry_url, f"example-{stamp}", idle_seconds=3)
    assert current[kept]["status"] == "engaged" and dropped not in current

    printed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "consume_links.py"),
            "--bootstrap",
            platform.bootstrap_servers,
            "--registry",
            platform.registry_url,
            "--group",
            f"example-cli-{stamp}",
            "--idle-seconds",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert f'{{"transfer_id": "{kept}", "status": "engaged"}}' in printed
