"""Metrics every stream service exposes, with the same names, so one dashboard reads them all.

- records consumed and produced, per service and topic;
- processing latency, from the record's `recorded_at` (how long after the provider recorded it
  the platform acted: hours to months for monthly extracts) and from the Kafka append time
  (the pipeline's own delay: milliseconds to seconds);
- consumer lag per partition, sampled from the broker by a small thread (committed offsets
  against end offsets), the same for every stage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from ndtms_contract.settings import PlatformSettings

log = logging.getLogger(__name__)

CONSUMED = Counter("ndtms_records_consumed_total", "Records consumed", ["service", "topic"])
PRODUCED = Counter("ndtms_records_produced_total", "Records produced", ["service", "topic"])
FROM_RECORDED = Histogram(
    "ndtms_latency_from_recorded_seconds",
    "From the provider's recorded_at to processed",
    ["service"],
    buckets=(60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 31 * 86400, 92 * 86400, 366 * 86400),
)
FROM_APPEND = Histogram(
    "ndtms_latency_from_append_seconds",
    "From the Kafka append time of the consumed record to processed",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
DEAD_LETTERS = Counter("ndtms_dlq_records_total", "Records sent to the dead-letter queue", ["service"])
LAG = Gauge("ndtms_consumer_lag", "Records not yet committed by the group", ["service", "topic", "partition"])


@cache
def labelled(metric: Any, *values: str) -> Any:
    """A metric's child for these label values, looked up once: `labels()` costs microseconds a call."""
    return metric.labels(*values)


def observe(
    service: str, topic: str, appended_ms: int | None, recorded_at: datetime | None, now: datetime
) -> None:
    """One record consumed and processed at `now`."""
    labelled(CONSUMED, service, topic).inc()
    if appended_ms is not None and appended_ms > 0:
        labelled(FROM_APPEND, service).observe(max(now.timestamp() - appended_ms / 1000, 0))
    if recorded_at is not None:
        labelled(FROM_RECORDED, service).observe(max((now - recorded_at).total_seconds(), 0))


def offsets_reader(settings: PlatformSettings, group_id: str) -> dict[str, Any]:
    """A client that only reads a group's committed offsets, never joining the group.

    Read uncommitted: a read-committed client asks for stable offsets (KIP-447) and, while a
    stage's transaction holds offsets not yet committed (nearly always, under load), the broker
    makes it wait and retry until its timeout; the offsets committed so far are what lag means.
    """
    return {
        **settings.kafka_client_config(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "isolation.level": "read_uncommitted",
    }


class LagSampler:
    """Every `interval` seconds, the group's lag per input partition into `ndtms_consumer_lag`."""

    def __init__(
        self,
        settings: PlatformSettings,
        service: str,
        group_id: str,
        topics: dict[str, int],
        interval: float = 15,
        held: Callable[[], frozenset[tuple[str, int]]] | None = None,
    ):
        self.settings, self.service, self.group_id, self.topics = settings, service, group_id, topics
        self.interval = interval
        self.stop = threading.Event()
        # The partitions this instance holds: each instance reports only its own lag, so that
        # `sum by (service)` over instances is the group's lag, whatever the number of instances.
        self.held = held
        self._reported: set[tuple[str, int]] = set()

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"{self.service}-lag", daemon=True).start()

    def _run(self) -> None:
        consumer = Consumer(offsets_reader(self.settings, self.group_id))
        try:
            while not self.stop.wait(self.interval):
                try:
                    self.sample(consumer)
                except KafkaException as exc:
                    log.warning("lag sample failed: %s", exc)
        finally:
            consumer.close()

    def sample(self, consumer: Consumer) -> None:
        every = {(t, p) for t, count in self.topics.items() for p in range(count)}
        mine = every if self.held is None else every & self.held()
        for topic, partition in self._reported - mine:
            # Moved to another instance: that one reports it now.
            LAG.remove(self.service, topic, str(partition))
        self._reported = set(mine)
        if not mine:
            return
        for tp in consumer.committed([TopicPartition(t, p) for t, p in sorted(mine)], timeout=10):
            _, end = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=5)
            position = tp.offset if tp.offset >= 0 else 0
            LAG.labels(self.service, tp.topic, str(tp.partition)).set(max(end - position, 0))
