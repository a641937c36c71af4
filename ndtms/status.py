"""What `ndtms status` reports: per service up and consumer lag, per topic end offsets."""

from __future__ import annotations

import time
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CATALOGUE
from ndtms.dashboard import Series, grouped, parse, total
from ndtms.localrun.services import SERVICES, health, process_of
from ndtms.metrics import offsets_reader


def end_offsets(consumer: Consumer, topic: str, partitions: int, timeout: float = 15) -> dict[int, int]:
    offsets = {}
    deadline = time.monotonic() + timeout
    for partition in range(partitions):
        while True:
            try:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
                break
            except KafkaException:
                # A just-created topic's leader may not serve yet ("not leader for partition").
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        offsets[partition] = high
    return offsets


def group_position(
    settings: PlatformSettings, group_id: str, topics: dict[str, dict[int, int]]
) -> tuple[int, int]:
    """(records the group has committed past, records on the input topics it has not)."""
    consumer = Consumer(offsets_reader(settings, group_id))
    try:
        wanted = [TopicPartition(t, p) for t, ends in topics.items() for p in ends]
        committed = consumer.committed(wanted, timeout=10)
        done = lag = 0
        for tp in committed:
            end = topics[tp.topic][tp.partition]
            position = tp.offset if tp.offset >= 0 else 0
            done += position
            lag += max(end - position, 0)
        return done, lag
    finally:
        consumer.close()


def group_lag(settings: PlatformSettings, group_id: str, topics: dict[str, dict[int, int]]) -> int:
    """Records on the input topics that the group has not committed past."""
    return group_position(settings, group_id, topics)[1]


def collect(settings: PlatformSettings) -> dict[str, Any]:
    admin = AdminClient(settings.kafka_client_config())
    metadata = admin.list_topics(timeout=10)
    probe = Consumer({**settings.kafka_client_config(), "group.id": "ndtms-status-probe"})
    try:
        topics: dict[str, dict[int, int]] = {}
        # Every public topic, and the internal ones a service reads (the probable-match input).
        names = [spec.name for spec in CATALOGUE] + [t for s in SERVICES for t in s.input_topics]
        for name in dict.fromkeys(names):
            if name in metadata.topics:
                count = len(metadata.topics[name].partitions)
                topics[name] = end_offsets(probe, name, count)
    finally:
        probe.close()
    services: dict[str, Any] = {}
    metrics: dict[str, Series] = {}
    for service in SERVICES:
        state = health(service, settings)
        inputs = {t: topics[t] for t in service.input_topics if t in topics}
        committed, lag = (
            group_position(settings, service.group_id, inputs) if service.group_id and inputs else (0, 0)
        )
        metrics[service.name] = scrape(settings, service.port(settings))
        latency = "ndtms_latency_from_append_seconds"
        own = {"service": service.name}
        services[service.name] = {
            "up": state == "ready",
            "health": state or "not answering",
            "pid": process_of(service, settings).pid(),
            "lag": lag,
            "committed": committed,
            "latency_sum": total(metrics[service.name], f"{latency}_sum", **own),
            "latency_count": total(metrics[service.name], f"{latency}_count", **own),
        }
    return {
        "at": time.time(),
        "services": services,
        # When the ingest service last accepted each provider's updates.
        "providers_last_published": grouped(
            metrics.get("ingest", {}), "ndtms_provider_last_published_timestamp_seconds", "provider"
        ),
        "topics": {
            name: {
                "end_offsets": {str(p): o for p, o in ends.items()},
                "end_offset_total": sum(ends.values()),
            }
            for name, ends in topics.items()
        },
    }


def scrape(settings: PlatformSettings, port: int) -> Series:
    """A service's metrics, read once per status reading; empty when it does not answer."""
    try:
        return parse(httpx.get(f"http://{settings.service_host}:{port}/metrics", timeout=3).text)
    except httpx.HTTPError:
        return {}
