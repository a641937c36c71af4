"""A partition's end offset as the cluster has it, waiting out a partition with no leader.

Leader elections are routine on a cluster (a broker restarting, a rolling upgrade), and a topic
created a moment ago has partitions whose leader not every client knows yet. Asking the same
client again does not help while its metadata says the partition does not exist
(`_UNKNOWN_PARTITION`): it is asked to refresh its metadata for the topic between tries.
"""

from __future__ import annotations

import contextlib
import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger(__name__)


class NoLeader(RuntimeError):
    """The partition had no leader for the whole of the patience given."""


def end_offset(consumer: Consumer, tp: TopicPartition, patience: float = 120, pause: float = 0.5) -> int:
    deadline = time.monotonic() + patience
    while True:
        try:
            return int(consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=5)[1])
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise NoLeader(
                    f"partition {tp.partition} of {tp.topic} had no leader for {patience:.0f} s: {exc}"
                ) from exc
            log.warning("end of %s [%d] not known yet (%s); asking again", tp.topic, tp.partition, exc)
            time.sleep(pause)
            # The metadata refresh; if the cluster is still settling, the next try says so.
            with contextlib.suppress(KafkaException):
                consumer.list_topics(tp.topic, timeout=5)


class TopicMissing(RuntimeError):
    """The topic is not on the cluster (`ndtms init` creates the platform's topics)."""


def partition_count(consumer: Consumer, topic: str, patience: float = 60, pause: float = 0.5) -> int:
    """How many partitions the topic has on the cluster (not the contract's default), waiting
    out a cluster whose metadata is not ready yet."""
    deadline = time.monotonic() + patience
    while True:
        try:
            found = consumer.list_topics(topic, timeout=5).topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                return len(found.partitions)
            problem = "not on the cluster" if found is None else str(found.error or "no partitions")
        except KafkaException as exc:
            problem = str(exc)
        if time.monotonic() > deadline:
            raise TopicMissing(f"{topic}: {problem} (run `ndtms init` to create the platform's topics)")
        log.warning("partitions of %s not known yet (%s); asking again", topic, problem)
        time.sleep(pause)
