"""Reading a whole topic as it stands: every partition, from its beginning to the end offset
it had when the read began, read committed, whatever arrives after.

A command that reports on a topic (`dq`, `audit`, `indicator`) must finish on a busy platform
and must not stop early on a slow one, so the end is fixed by offsets, never by a quiet spell.
A partition is finished when the consumer's position has reached its end offset, or when the
broker says the consumer is at the end of it (a read-committed consumer may see an end offset
that an aborted transaction or a commit marker holds, and no record ever carries it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from ndtms.offsets import NoLeader, end_offset
from ndtms_contract.settings import PlatformSettings


class TopicUnreadable(RuntimeError):
    """The topic is missing, or could not be read to its end in time: the message says which."""


@dataclass(frozen=True)
class Progress:
    read: int
    # Offsets to read: commit markers and aborted records take offsets too, so `read` may end below it.
    total: int
    finished: bool = False


def end_offsets(consumer: Consumer, topic: str, partitions: list[int], timeout: float) -> dict[int, int]:
    """Each partition's end offset now; waits while a partition has no leader yet."""
    try:
        return {p: end_offset(consumer, TopicPartition(topic, p), patience=timeout) for p in partitions}
    except NoLeader as exc:
        raise TopicUnreadable(str(exc)) from exc


def read_whole_topic(
    platform: PlatformSettings,
    topic: str,
    timeout: float = 300,
    progress: Callable[[Progress], None] | None = None,
) -> Iterator[Message]:
    """Every record of `topic` up to the end offsets taken when the read starts, in partition order
    within each partition (partitions interleave)."""
    consumer = Consumer(
        {
            **platform.kafka_client_config(),
            # Required by the client; never used to commit: positions are assigned by hand.
            "group.id": "ndtms-whole-topic-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise TopicUnreadable(
                f"the Kafka cluster at {platform.bootstrap_servers} does not answer ({exc.args[0].str()})"
            ) from exc
        if metadata is None or metadata.error is not None:
            raise TopicUnreadable(f"topic {topic} does not exist; run `ndtms up` (or `ndtms init`) first")
        partitions = sorted(metadata.partitions)
        ends = end_offsets(consumer, topic, partitions, timeout=min(timeout, 30))
        starts = {p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), 5)[0]) for p in partitions}
        unfinished = {p for p in partitions if ends[p] > starts[p]}
        total = sum(ends[p] - starts[p] for p in unfinished)
        if not unfinished:
            return
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(unfinished)])
        deadline = time.monotonic() + timeout
        read = 0
        while unfinished:
            if time.monotonic() > deadline:
                raise TopicUnreadable(
                    f"could not read {topic} to its end within {timeout:.0f} s "
                    f"({read:,} of about {total:,} records read)"
                )
            for message in consumer.consume(num_messages=500, timeout=0.5):
                partition = int(message.partition() or 0)
                offset = int(message.offset() or 0)
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF and offset >= ends[partition]:
                        unfinished.discard(partition)
                    continue
                if partition not in unfinished or offset >= ends[partition]:
                    # Arrived after the read began: not part of the topic as it stood.
                    unfinished.discard(partition)
                    continue
                read += 1
                yield message
            for tp in consumer.position([TopicPartition(topic, p) for p in sorted(unfinished)]):
                if tp.offset >= ends[tp.partition]:
                    unfinished.discard(tp.partition)
            if progress is not None:
                progress(Progress(read, total, finished=not unfinished))
    finally:
        consumer.close()


def terminal_progress(topic: str, after_seconds: float = 1.0) -> Callable[[Progress], None]:
    """Shows how far a long read has gone, on stderr when it is a terminal; silent otherwise."""
    started = time.monotonic()
    shown = False

    def show(progress: Progress) -> None:
        nonlocal shown
        if progress.finished:
            if shown:
                sys.stderr.write("\n")
            return
        if not sys.stderr.isatty() or time.monotonic() - started < after_seconds:
            return
        sys.stderr.write(f"\rreading {topic}: {progress.read:,} of about {progress.total:,} records")
        sys.stderr.flush()
        shown = True

    return show
