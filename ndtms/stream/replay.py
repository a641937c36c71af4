"""Restoring a store: a changelog partition read from an offset to its true end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ndtms.offsets import end_offset
from ndtms.stream.state import ChangelogBehind, Replayed

# How long a restore waits for the rest of a changelog that it cannot read yet.
REPLAY_PATIENCE_SECONDS = 120.0


class ChangelogUnreadable(RuntimeError):
    """A changelog could not be read to its end in time: the stage must not go on with part of it."""


def replayer(
    reader: Consumer,
    topic: str,
    partition: int,
    patience: float = REPLAY_PATIENCE_SECONDS,
    ends: Consumer | None = None,
) -> Callable[[int], Iterator[Replayed]]:
    """The changelog partition's records from an offset to its end (read committed).

    The end is the partition's high watermark, as `ends` (a read-uncommitted client) sees it:
    a read-committed client's end is the last stable offset, before any transaction still open,
    and a restore that stopped there lost what was committed after it."""

    def replay(start: int) -> Iterator[Replayed]:
        end = end_offset(ends or reader, TopicPartition(topic, partition))
        if end < start:
            raise ChangelogBehind(f"{topic} [{partition}] ends at {end}, the local copy is at {start}")
        if end == start:
            return
        where = TopicPartition(topic, partition, start)
        reader.assign([where])
        deadline = time.monotonic() + patience
        try:
            while True:
                # Short waits: consume() holds on for its whole timeout unless the batch fills, and
                # a partition that ends in a commit marker (every one written in a transaction)
                # delivers no record, only the end-of-partition event: 0.2 s waits made a warm
                # restart cost 0.2 s per such partition.
                messages = reader.consume(10_000, timeout=0.01)
                if not messages and time.monotonic() > deadline:
                    [position] = reader.position([TopicPartition(topic, partition)])
                    raise ChangelogUnreadable(
                        f"{topic} [{partition}] could be read only to {position.offset} of {end} "
                        f"in {patience:.0f} s"
                    )
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            raise KafkaException(error)
                        # The end of what can be read now is not always the end: a transaction
                        # still open (a stage killed mid-transaction, until its timeout) holds
                        # read-committed readers back, and so does a new leader whose high
                        # watermark has not caught up. Stopping there lost the rest of the
                        # state (seen in the rehearsal: a resent revision forwarded again).
                        [position] = reader.position([TopicPartition(topic, partition)])
                        if position.offset >= end:
                            return
                        if time.monotonic() > deadline:
                            raise ChangelogUnreadable(
                                f"{topic} [{partition}] could be read only to {position.offset} of "
                                f"{end} in {patience:.0f} s"
                            )
                        time.sleep(0.05)
                        continue
                    offset = message.offset() or 0
                    yield message.key() or b"", message.value(), offset
                    if offset + 1 >= end:
                        return
        finally:
            reader.unassign()

    return replay
