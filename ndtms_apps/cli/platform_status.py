"""What `ndtms status` reports: per service up and consumer lag, per topic end offsets."""

from __future__ import annotations

import time
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from ndtms.localrun.services import SERVICES, health_of, instances
from ndtms.metrics import offsets_reader
from ndtms.offsets import end_offset
from ndtms_apps.pages.dashboard import Series, grouped, parse, total
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CATALOGUE


def end_offsets(consumer: Consumer, topic: str, partitions: int, timeout: float = 15) -> dict[int, int]:
    return {p: end_offset(consumer, TopicPartition(topic, p), patience=timeout) for p in range(partitions)}


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
    last_published: dict[str, float] = {}
    every = instances(settings)
    for service in SERVICES:
        inputs = {t: topics[t] for t in service.input_topics if t in topics}
        committed, lag = (
            group_position(settings, service.group_id, inputs) if service.group_id and inputs else (0, 0)
        )
        latency = "ndtms_latency_from_append_seconds"
        own = {"service": service.name}
        listed = []
        for instance in (i for i in every if i.spec.name == service.name):
            state = health_of(instance.url(settings), service)
            scraped = scrape(settings, instance.port(settings))
            summed = metrics.setdefault(service.name, {})
            for series, value in scraped.items():
                summed[series] = summed.get(series, 0.0) + value
            # A time, not a count: the latest over the instances (each knows only its own).
            seen = grouped(scraped, "ndtms_provider_last_published_timestamp_seconds", "provider")
            for provider, at in seen.items():
                last_published[provider] = max(at, last_published.get(provider, 0.0))
            listed.append(
                {
                    "name": instance.name,
                    "url": instance.url(settings),
                    "pid": instance.process(settings).pid(),
                    "up": state == "ready",
                    "health": state or "not answering",
                    # Of the partitions this instance holds (its own sample, every 15 s).
                    "lag": int(total(scraped, "ndtms_consumer_lag", **own)),
                }
            )
        services[service.name] = {
            "up": all(i["up"] for i in listed),
            "health": ", ".join(dict.fromkeys(str(i["health"]) for i in listed)),
            "pid": listed[0]["pid"] if len(listed) == 1 else None,
            "instances": listed,
            "lag": lag,
            "committed": committed,
            "latency_sum": total(metrics.get(service.name, {}), f"{latency}_sum", **own),
            "latency_count": total(metrics.get(service.name, {}), f"{latency}_count", **own),
        }
    return {
        "at": time.time(),
        "services": services,
        # When the ingest service last accepted each provider's updates.
        "providers_last_published": last_published,
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
