"""Topics read for a person: decoded records, a whole topic as it stands or followed as it grows.

Imported by the commands that read topics when they run (never when the command line is read).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Message, TopicPartition

from ndtms.whole_topic import TopicUnreadable, read_whole_topic, terminal_progress
from ndtms_apps.cli.command import CommandFailed
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import TopicSpec
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client, transcoder_for


def _value_json(spec: TopicSpec, codec: AvroTranscoder[Any] | None, value: bytes | None, headers: Any) -> Any:
    if value is None:
        return None
    if codec is None:
        return {
            "bytes_base64": base64.b64encode(value).decode(),
            "headers": {k: (v.decode("utf-8", "replace") if v else None) for k, v in (headers or [])},
        }
    try:
        return codec.decode(value).model_dump(mode="json")
    except UndecodableRecord as exc:
        return {"undecodable": str(exc)}


def _record(spec: TopicSpec, codec: AvroTranscoder[Any] | None, message: Message) -> dict[str, Any]:
    key = message.key()
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value": _value_json(spec, codec, message.value(), message.headers()),
    }


def _codec(platform: PlatformSettings, spec: TopicSpec) -> AvroTranscoder[Any] | None:
    return transcoder_for(registry_client(platform.registry_url), spec) if spec.value_schema else None


def records_to_end(platform: PlatformSettings, spec: TopicSpec) -> Iterator[dict[str, Any]]:
    """Every record of the topic as it stood when called (see `ndtms.whole_topic`), decoded."""
    codec = _codec(platform, spec)
    try:
        for message in read_whole_topic(platform, spec.name, progress=terminal_progress(spec.name)):
            yield _record(spec, codec, message)
    except TopicUnreadable as exc:
        raise CommandFailed(str(exc)) from exc


def tail(
    platform: PlatformSettings, spec: TopicSpec, from_beginning: bool, idle_timeout: float
) -> Iterator[dict[str, Any]]:
    """Follow the topic (all partitions): every record as it arrives, until nothing new has
    arrived for idle_timeout."""
    codec = _codec(platform, spec)
    consumer = Consumer(
        {
            **platform.kafka_client_config(),
            "group.id": f"ndtms-tail-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(spec.name, timeout=10).topics.get(spec.name)
        if metadata is None or metadata.error is not None:
            raise CommandFailed(f"topic {spec.name} does not exist; run `ndtms up` first")
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(spec.name, p, start) for p in metadata.partitions])
        last = time.monotonic()
        while time.monotonic() - last < idle_timeout:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            last = time.monotonic()
            yield _record(spec, codec, message)
    finally:
        consumer.close()
